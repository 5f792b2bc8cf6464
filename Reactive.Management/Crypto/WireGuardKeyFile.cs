namespace Reactive.Management.Crypto;

/// <summary>
/// A WireGuard private key in a file (base64, like <c>wg genkey</c>), created readable by its owner only.
/// </summary>
public static class WireGuardKeyFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Loads the key pair from <paramref name="path"/>, or creates a new one there with mode 0600 (owner read/write)
    /// when the file does not exist. When another process creates the file at the same moment, its key is used.
    /// </summary>
    /// <returns>The key pair; whether this call created the file; the full path.</returns>
    /// <exception cref="InvalidOperationException">The file exists but holds no valid key (its content is never echoed).</exception>
    public static (WireGuardKeyPair KeyPair, bool Created, string FullPath) LoadOrCreate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var fullPath = Path.GetFullPath(path);
        if (File.Exists(fullPath))
        {
            return (Load(fullPath), false, fullPath);
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

            using var stream = new FileStream(fullPath, options);
            using var writer = new StreamWriter(stream);
            writer.WriteLine(created.ExportPrivateKey());
        }
        catch (IOException) when (File.Exists(fullPath))
        {
            // Another process created it first: use theirs, so both use the same key.
            created.Dispose();
            return (Load(fullPath), false, fullPath);
        }

        return (created, true, fullPath);
    }

    /// <summary>The file's mode when others than its owner may read or write it, else null (and always null on Windows).</summary>
    public static UnixFileMode? ModeIfTooOpen(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        var mode = File.GetUnixFileMode(path);
        return (mode & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0 ? mode : null;
    }

    private static WireGuardKeyPair Load(string fullPath)
    {
        string text;
        try
        {
            text = File.ReadAllText(fullPath);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"The key file '{fullPath}' cannot be read: {exception.Message}", exception);
        }

        return WireGuardKeyPair.TryFromPrivateKey(text, out var keyPair)
            ? keyPair
            : throw new InvalidOperationException($"The key file '{fullPath}' does not hold a WireGuard private key (32 bytes, base64). Fix or remove it; a new key is created when the file is missing.");
    }
}
