namespace Reactive.Management.Tests.Proxies;

/// <summary>The reverse proxies the flagship suite runs in front of the management server.</summary>
public enum ProxyKind
{
    Nginx,
    Haproxy,
    Caddy,
}

internal static class ProxyKinds
{
    public static string Binary(this ProxyKind kind) => kind switch
    {
        ProxyKind.Nginx => "nginx",
        ProxyKind.Haproxy => "haproxy",
        ProxyKind.Caddy => "caddy",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string Template(this ProxyKind kind) => kind switch
    {
        ProxyKind.Nginx => "nginx.conf.template",
        ProxyKind.Haproxy => "haproxy.cfg.template",
        ProxyKind.Caddy => "Caddyfile.template",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The binary's full path, from PATH and the sbin folders a non-root PATH may lack.</summary>
    public static string? Find(this ProxyKind kind)
    {
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Concat(["/usr/sbin", "/usr/local/sbin", "/sbin"]);
        return folders.Select(folder => Path.Combine(folder, kind.Binary())).FirstOrDefault(File.Exists);
    }
}
