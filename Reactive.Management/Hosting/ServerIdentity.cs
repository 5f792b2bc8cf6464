using Microsoft.Extensions.Logging;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;

namespace Reactive.Management.Hosting;

/// <summary>The server's WireGuard key pair, loaded from its key file (or created there on first start).</summary>
public sealed class ServerIdentity : IDisposable
{
    private ServerIdentity(WireGuardKeyPair keyPair) => KeyPair = keyPair;

    /// <summary>The key pair; only its public half is ever logged or sent.</summary>
    public WireGuardKeyPair KeyPair { get; }

    /// <summary>
    /// Loads the key from <paramref name="path"/>, or creates a new one there with mode 0600 (owner read/write)
    /// when the file does not exist. A loaded file that others may read is logged as a warning.
    /// </summary>
    /// <exception cref="InvalidOperationException">The file exists but holds no valid key.</exception>
    public static ServerIdentity LoadOrCreate(string path, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        var (keyPair, created, fullPath) = WireGuardKeyFile.LoadOrCreate(path);
        if (created)
        {
            Log.ServerKeyCreated(logger, fullPath, keyPair.PublicKey.ToString());
        }
        else
        {
            if (WireGuardKeyFile.ModeIfTooOpen(fullPath) is { } mode)
            {
                Log.ServerKeyFileTooOpen(logger, fullPath, mode);
            }

            Log.ServerKeyLoaded(logger, fullPath, keyPair.PublicKey.ToString());
        }

        return new ServerIdentity(keyPair);
    }

    /// <inheritdoc />
    public void Dispose() => KeyPair.Dispose();
}
