using System.Globalization;

namespace Reactive.Management.LoadTest;

/// <summary>The host's memory and CPU, read from /proc (Linux), and its managed heap from its Prometheus /metrics.</summary>
internal sealed class ServerProcess(int pid, HttpClient api)
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>Resident set size in bytes.</summary>
    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    /// <summary>User + system CPU time the process has used.</summary>
    public TimeSpan CpuTime()
    {
        // Fields after the command name (which may hold spaces, inside parentheses): utime is the 14th, stime the 15th.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }

    /// <summary>The managed heap after the last GC (the runtime's own meter, as the host exports it), or null.</summary>
    public async Task<long?> ManagedHeapBytesAsync()
    {
        try
        {
            var metrics = await api.GetStringAsync(new Uri("/metrics", UriKind.Relative)).ConfigureAwait(false);
            long total = 0;
            var found = false;
            foreach (var line in metrics.Split('\n'))
            {
                if (line.StartsWith("dotnet_gc_last_collection_heap_size_bytes", StringComparison.Ordinal))
                {
                    total += (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                    found = true;
                }
            }

            return found ? total : null;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>A histogram of the host's (Prometheus name without <c>_bucket</c>): cumulative counts by upper bound, or empty.</summary>
    public async Task<SortedDictionary<double, long>> HistogramAsync(string name)
    {
        var buckets = new SortedDictionary<double, long>();
        try
        {
            var metrics = await api.GetStringAsync(new Uri("/metrics", UriKind.Relative)).ConfigureAwait(false);
            foreach (var line in metrics.Split('\n'))
            {
                if (!line.StartsWith(name + "_bucket", StringComparison.Ordinal))
                {
                    continue;
                }

                var le = line[(line.IndexOf("le=\"", StringComparison.Ordinal) + 4)..];
                le = le[..le.IndexOf('"', StringComparison.Ordinal)];
                var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture);
                buckets[bound] = buckets.GetValueOrDefault(bound) + (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }
        catch (HttpRequestException)
        {
        }

        return buckets;
    }

    /// <summary>The upper bound of the bucket holding the given percentile of the counts between two scrapes.</summary>
    public static string Percentile(SortedDictionary<double, long> before, SortedDictionary<double, long> after, double percentile)
    {
        var total = after.Count == 0 ? 0 : after.Values.Max() - (before.Count == 0 ? 0 : before.Values.Max());
        if (total <= 0)
        {
            return "n/a";
        }

        foreach (var (bound, cumulative) in after)
        {
            if (cumulative - before.GetValueOrDefault(bound) >= percentile / 100 * total)
            {
                return double.IsPositiveInfinity(bound) ? "> 5000" : $"≤ {bound:0.#}";
            }
        }

        return "n/a";
    }

    /// <summary>The sum of a counter's series in the host's /metrics (Prometheus name), or 0.</summary>
    public async Task<double> CounterAsync(string name)
    {
        try
        {
            var metrics = await api.GetStringAsync(new Uri("/metrics", UriKind.Relative)).ConfigureAwait(false);
            return metrics.Split('\n')
                .Where(line => line.StartsWith(name, StringComparison.Ordinal) && (line.Length == name.Length || line[name.Length] is '{' or ' '))
                .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }
}
