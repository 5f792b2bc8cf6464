using Reactive.Management.Crypto;

namespace DemoPeer;

/// <summary>The peer's WireGuard key: from a file (created 0600 if missing) or new for this run.</summary>
internal static class PeerKeys
{
    public static WireGuardKeyPair LoadOrGenerate(string? path) =>
        path is null ? WireGuardKeyPair.Generate() : WireGuardKeyFile.LoadOrCreate(path).KeyPair;
}
