using System.Collections.Concurrent;
using System.Reactive.Concurrency;
using System.Security.Cryptography;
using Reactive.Management.Crypto;

namespace Reactive.Management.Peers;

/// <summary>The default peer registry: peers live in memory and are gone when the process ends.</summary>
public sealed class InMemoryPeerRegistry : IPeerRegistry
{
    private readonly ConcurrentDictionary<WireGuardPublicKey, Peer> _byKey = new();
    private readonly ConcurrentDictionary<string, Peer> _byId = new(StringComparer.Ordinal);
    private readonly IScheduler _clock;
    private readonly Lock _registrationGate = new();

    // Lower-case base32, like the ids NetBird's API shows.
    internal const string IdAlphabet = "0123456789abcdefghijklmnopqrstuv";

    /// <summary>Creates an empty registry whose timestamps come from <paramref name="clock"/>.</summary>
    public InMemoryPeerRegistry(IScheduler clock) => _clock = clock ?? throw new ArgumentNullException(nameof(clock));

    /// <inheritdoc />
    public ValueTask<Peer?> FindByKeyAsync(WireGuardPublicKey key, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_byKey.GetValueOrDefault(key));

    /// <inheritdoc />
    public ValueTask<Peer?> FindByIdAsync(string id, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_byId.GetValueOrDefault(id));

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Peer>> ListAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IReadOnlyList<Peer>>([.. _byId.Values.OrderBy(peer => peer.CreatedAt).ThenBy(peer => peer.Id, StringComparer.Ordinal)]);

    /// <inheritdoc />
    public ValueTask<(Peer Peer, bool Created)> RegisterAsync(WireGuardPublicKey key, string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(name);
        lock (_registrationGate)
        {
            if (_byKey.TryGetValue(key, out var existing))
            {
                return ValueTask.FromResult((existing, false));
            }

            var peer = new Peer(RandomNumberGenerator.GetString(IdAlphabet, 20), key, name, _clock.Now);
            _byId[peer.Id] = peer;
            _byKey[key] = peer;
            return ValueTask.FromResult((peer, true));
        }
    }

    /// <inheritdoc />
    public ValueTask<Peer?> SetRemoteJobsAllowedAsync(string id, bool? allowed, CancellationToken cancellationToken = default)
    {
        lock (_registrationGate)
        {
            if (!_byId.TryGetValue(id, out var peer))
            {
                return ValueTask.FromResult<Peer?>(null);
            }

            peer = peer with { RemoteJobsAllowed = allowed };
            _byId[id] = peer;
            _byKey[peer.Key] = peer;
            return ValueTask.FromResult<Peer?>(peer);
        }
    }
}
