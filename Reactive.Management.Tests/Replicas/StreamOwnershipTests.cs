using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Replicas;
using Reactive.Management.Storage;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Replicas;

/// <summary>Stream owners in PostgreSQL as leases, on virtual time: a replica that stops renewing stops owning.</summary>
public sealed class StreamOwnershipTests
{
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(10);

    [PostgresFact]
    public async Task A_claim_holds_for_three_renewal_periods_and_each_renewal_extends_it()
    {
        var clock = new TestScheduler();
        await using var database = new PostgresDatabase(await PostgresCluster.CreateDatabaseAsync());
        var a = new PostgresStreamOwnership(database, "replica-a", RenewEvery, clock);
        using var peer = WireGuardKeyPair.Generate();
        await a.ClaimAsync(peer.PublicKey, Guid.NewGuid());

        clock.AdvanceTo(VirtualTime.Seconds(30));
        Assert.Equal("replica-a", await a.OwnerAsync(peer.PublicKey));

        clock.AdvanceTo(VirtualTime.Seconds(30) + 1);
        Assert.Null(await a.OwnerAsync(peer.PublicKey));

        await a.RenewAsync();
        clock.AdvanceTo(VirtualTime.Seconds(60));
        Assert.Equal("replica-a", await a.OwnerAsync(peer.PublicKey));
    }

    /// <summary>
    /// StartRenewing on virtual time: a renewal at every period keeps the claim true past any one lease; once renewing
    /// stops, the claim lapses one lease after the last renewal.
    /// </summary>
    [PostgresFact]
    public async Task Renewing_every_period_keeps_a_claim_past_its_lease_and_stopping_lets_it_lapse_one_lease_after_the_last_renewal()
    {
        var clock = new TestScheduler();
        await using var database = new PostgresDatabase(await PostgresCluster.CreateDatabaseAsync());
        var a = new PostgresStreamOwnership(database, "replica-a", RenewEvery, clock);
        using var peer = WireGuardKeyPair.Generate();
        await a.ClaimAsync(peer.PublicKey, Guid.NewGuid());
        var failures = new List<Exception>();
        var renewing = a.StartRenewing(failures.Add);

        // Ten periods, one at a time: the renewal due at each (on the scheduler) has run before the next.
        for (var period = 1; period <= 10; period++)
        {
            clock.AdvanceTo(VirtualTime.Seconds(10 * period));
            await Eventually.TrueAsync(async () => await RenewedAtAsync(database, peer) == VirtualTime.Seconds(10 * period), $"the renewal of period {period}");
        }

        Assert.Equal("replica-a", await a.OwnerAsync(peer.PublicKey));
        renewing.Dispose();
        clock.AdvanceTo(VirtualTime.Seconds(100 + 30));
        Assert.Equal("replica-a", await a.OwnerAsync(peer.PublicKey));
        clock.AdvanceTo(VirtualTime.Seconds(100 + 30) + 1);
        Assert.Null(await a.OwnerAsync(peer.PublicKey));
        Assert.Empty(failures);
    }

    private static async Task<long> RenewedAtAsync(PostgresDatabase database, WireGuardKeyPair peer)
    {
        await using var command = await database.CommandAsync("SELECT renewed FROM stream_owners WHERE peer_key = @peer_key");
        command.Parameters.AddWithValue("peer_key", peer.PublicKey.ToString());
        // TestScheduler time starts at tick 0, so the stored ticks are the virtual time.
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [PostgresFact]
    public async Task A_peer_that_reconnects_elsewhere_moves_and_the_old_stream_end_does_not_take_it_back()
    {
        var clock = new TestScheduler();
        await using var database = new PostgresDatabase(await PostgresCluster.CreateDatabaseAsync());
        var a = new PostgresStreamOwnership(database, "replica-a", RenewEvery, clock);
        var b = new PostgresStreamOwnership(database, "replica-b", RenewEvery, clock);
        using var peer = WireGuardKeyPair.Generate();
        var onA = Guid.NewGuid();
        await a.ClaimAsync(peer.PublicKey, onA);

        await b.ClaimAsync(peer.PublicKey, Guid.NewGuid());
        await a.ReleaseAsync(peer.PublicKey, onA);

        Assert.Equal("replica-b", await a.OwnerAsync(peer.PublicKey));
    }

    [PostgresFact]
    public async Task A_replica_that_starts_again_forgets_the_streams_it_held()
    {
        var clock = new TestScheduler();
        await using var database = new PostgresDatabase(await PostgresCluster.CreateDatabaseAsync());
        var before = new PostgresStreamOwnership(database, "replica-a", RenewEvery, clock);
        using var peer = WireGuardKeyPair.Generate();
        await before.ClaimAsync(peer.PublicKey, Guid.NewGuid());

        var restarted = new PostgresStreamOwnership(database, "replica-a", RenewEvery, clock);
        await restarted.ForgetOwnStreamsAsync();

        Assert.Null(await restarted.OwnerAsync(peer.PublicKey));
    }
}
