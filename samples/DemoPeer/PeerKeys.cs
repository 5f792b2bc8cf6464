using Reactive.Management.Crypto;

namespace DemoPeer;

/// <summary>The peer's WireGuard key: from a file (created 0600 if missing) or new for this run.</summary>
internal static class PeerKeys
{
    public static WireGuardKeyPair LoadOrGenerate(string? path)
    {
        if (path is null)
        {
            return WireGuardKeyPair.Generate();
        }

        if (File.Exists(path))
        {
            return WireGuardKeyPair.TryFromPrivateKey(File.ReadAllText(path), out var loaded)
                ? loaded
                : throw new InvalidOperationException($"'{path}' does not hold a WireGuard private key.");
        }

        var created = WireGuardKeyPair.Generate();
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var writer = new StreamWriter(new FileStream(path, options));
        writer.WriteLine(created.ExportPrivateKey());
        return created;
    }
}
