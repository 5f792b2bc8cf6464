using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Peers;
using Reactive.Management.Storage;
using Xunit;

namespace Reactive.Management.Tests.Peers;

/// <summary>What every <see cref="IPeerRegistry"/> must do; each registry runs this same suite.</summary>
public abstract class PeerRegistryContract : IDisposable
{
    private readonly WireGuardKeyPair _key = WireGuardKeyPair.Generate();

    protected TestScheduler Clock { get; } = new();

    protected abstract IPeerRegistry Registry { get; }

    [Fact]
    public async Task Registering_a_key_creates_a_peer_once()
    {
        Clock.AdvanceBy(TimeSpan.FromSeconds(5).Ticks);
        var (peer, created) = await Registry.RegisterAsync(_key.PublicKey, "laptop");
        var (again, createdAgain) = await Registry.RegisterAsync(_key.PublicKey, "other name");

        Assert.True(created);
        Assert.False(createdAgain);
        Assert.Equal(peer, again);
        Assert.Equal("laptop", peer.Name);
        Assert.Equal(20, peer.Id.Length);
        Assert.Equal(Clock.Now, peer.CreatedAt);
    }

    [Fact]
    public async Task A_peer_is_found_by_key_and_by_id_and_listed()
    {
        var (peer, _) = await Registry.RegisterAsync(_key.PublicKey, "laptop");
        using var other = WireGuardKeyPair.Generate();

        Assert.Equal(peer, await Registry.FindByKeyAsync(_key.PublicKey));
        Assert.Equal(peer, await Registry.FindByIdAsync(peer.Id));
        Assert.Null(await Registry.FindByKeyAsync(other.PublicKey));
        Assert.Null(await Registry.FindByIdAsync("nobody"));
        Assert.Equal([peer], await Registry.ListAsync());
    }

    [Fact]
    public async Task A_peers_remote_jobs_opt_in_is_set_cleared_and_read_back()
    {
        var (peer, _) = await Registry.RegisterAsync(_key.PublicKey, "laptop");
        Assert.Null(peer.RemoteJobsAllowed);

        var refused = await Registry.SetRemoteJobsAllowedAsync(peer.Id, false);
        Assert.Equal(peer with { RemoteJobsAllowed = false }, refused);
        Assert.Equal(refused, await Registry.FindByIdAsync(peer.Id));
        Assert.Equal(refused, await Registry.FindByKeyAsync(_key.PublicKey));
        Assert.Equal([refused!], await Registry.ListAsync());

        Assert.Equal(peer with { RemoteJobsAllowed = true }, await Registry.SetRemoteJobsAllowedAsync(peer.Id, true));
        Assert.Equal(peer, await Registry.SetRemoteJobsAllowedAsync(peer.Id, null));
        Assert.Equal(peer, await Registry.FindByIdAsync(peer.Id));
        Assert.Null(await Registry.SetRemoteJobsAllowedAsync("nobody", true));
    }

    public void Dispose()
    {
        _key.Dispose();
        GC.SuppressFinalize(this);
        DisposeRegistry();
    }

    protected virtual void DisposeRegistry()
    {
    }
}

public sealed class InMemoryPeerRegistryTests : PeerRegistryContract
{
    public InMemoryPeerRegistryTests() => Registry = new InMemoryPeerRegistry(Clock);

    protected override IPeerRegistry Registry { get; }
}

public sealed class SqlitePeerRegistryTests : PeerRegistryContract
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-peers-").FullName;

    public SqlitePeerRegistryTests() => Registry = new SqlitePeerRegistry(new SqliteDatabase(Path.Combine(_folder, "peers.db")), Clock);

    protected override IPeerRegistry Registry { get; }

    protected override void DisposeRegistry()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}

/// <summary>The registry the host uses over a database: the same contract, and it never keeps a peer it did not find.</summary>
public sealed class KnownPeersTests : PeerRegistryContract
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-known-peers-").FullName;
    private readonly SqliteDatabase _database;

    public KnownPeersTests()
    {
        _database = new SqliteDatabase(Path.Combine(_folder, "peers.db"));
        Registry = new KnownPeers(new SqlitePeerRegistry(_database, Clock));
    }

    protected override IPeerRegistry Registry { get; }

    [Xunit.Fact]
    public async Task A_peer_registered_by_another_writer_after_a_miss_is_found()
    {
        using var keys = Reactive.Management.Crypto.WireGuardKeyPair.Generate();
        Xunit.Assert.Null(await Registry.FindByKeyAsync(keys.PublicKey));

        // Another registry on the same database (as another replica would be) registers it.
        var (peer, _) = await new SqlitePeerRegistry(_database, Clock).RegisterAsync(keys.PublicKey, "elsewhere");

        Xunit.Assert.Equal(peer, await Registry.FindByKeyAsync(keys.PublicKey));
        Xunit.Assert.Equal(peer, await Registry.FindByIdAsync(peer.Id));
    }

    protected override void DisposeRegistry()
    {
        _database.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
