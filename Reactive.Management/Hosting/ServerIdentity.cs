using Microsoft.Extensions.Logging;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;

namespace Reactive.Management.Hosting;

/// <summary>The server's WireGuard key pair, loaded from its key file (or created there on first start).</summary>
public sealed class ServerIdentity : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private ServerIdentity(WireGuardKeyPair keyPair) => KeyPair = keyPair;

    /// <summary>The key pair; only its public half is ever logged or sent.</summary>
    public WireGuardKeyPair KeyPair { get; }

    /// <summary>
    /// Loads the key from <paramref name="path"/>, or creates a new one there with mode 0600 (owner read/write)
    /// when the file does not exist.
    /// </summary>
    /// <exception cref="InvalidOperationException">The file exists but holds no valid key.</exception>
    public static ServerIdentity LoadOrCreate(string path, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(logger);
        var fullPath = Path.GetFullPath(path);
        if (File.Exists(fullPath))
        {
            return Load(fullPath, logger);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        var created = WireGuardKeyPair.Generate();
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            using (var stream = new FileStream(fullPath, options))
            using (var writer = new StreamWriter(stream))
            {
                writer.WriteLine(created.ExportPrivateKey());
            }
        }
        catch (IOException) when (File.Exists(fullPath))
        {
            // Another process created it first: use theirs, so both serve the same key.
            created.Dispose();
            return Load(fullPath, logger);
        }

        Log.ServerKeyCreated(logger, fullPath, created.PublicKey.ToString());
        return new ServerIdentity(created);
    }

    /// <inheritdoc />
    public void Dispose() => KeyPair.Dispose();

    private static ServerIdentity Load(string fullPath, ILogger logger)
    {
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(fullPath);
            if ((mode & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0)
            {
                Log.ServerKeyFileTooOpen(logger, fullPath, mode);
            }
        }

        // The file's content is a secret: the error says what is wrong, never what is there.
        if (!WireGuardKeyPair.TryFromPrivateKey(File.ReadAllText(fullPath), out var keyPair))
        {
            throw new InvalidOperationException($"The server key file '{fullPath}' does not hold a WireGuard private key (32 bytes, base64). Fix or remove it; a new key is created when the file is missing.");
        }

        Log.ServerKeyLoaded(logger, fullPath, keyPair.PublicKey.ToString());
        return new ServerIdentity(keyPair);
    }
}
