using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Reactive.Management.Jobs;

/// <summary>Which jobs to list, across all peers, newest first (by creation time, then id).</summary>
public sealed record JobQuery
{
    /// <summary>The default <see cref="Limit"/>: 100.</summary>
    public const int DefaultLimit = 100;

    /// <summary>The largest <see cref="Limit"/>: 500 (the smallest is 1).</summary>
    public const int MaxLimit = 500;

    /// <summary>Only jobs in this state; null for any.</summary>
    public JobState? State { get; init; }

    /// <summary>Only this peer's jobs; null for every peer's.</summary>
    public string? PeerId { get; init; }

    /// <summary>Only the jobs of this batch; null for any.</summary>
    public Guid? BatchId { get; init; }

    /// <summary>Only jobs created strictly after this time; null for any.</summary>
    public DateTimeOffset? CreatedAfter { get; init; }

    /// <summary>The most jobs in one page: 1 to <see cref="MaxLimit"/>, default <see cref="DefaultLimit"/>.</summary>
    public int Limit
    {
        get => _limit;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxLimit);
            _limit = value;
        }
    }

    private readonly int _limit = DefaultLimit;

    /// <summary>Where the page starts: the <see cref="JobPage.Next"/> of the page before; null for the first page.</summary>
    public JobCursor? After { get; init; }
}

/// <summary>One page of a <see cref="JobQuery"/>.</summary>
/// <param name="Jobs">The jobs, newest first.</param>
/// <param name="Next">Where the next page starts; null when this is the last.</param>
public sealed record JobPage(IReadOnlyList<Job> Jobs, JobCursor? Next)
{
    /// <summary>A page from up to <paramref name="limit"/> + 1 jobs read: the extra one only says that a next page exists.</summary>
    internal static JobPage FromRows(List<Job> rows, int limit) =>
        rows.Count > limit ? new JobPage(rows[..limit], JobCursor.After(rows[limit - 1])) : new JobPage(rows, null);
}

/// <summary>
/// A position in the newest-first order of jobs: the creation time and id of the last job of a page. The next page
/// holds the jobs strictly after it in that order, so jobs created meanwhile (which sort before it) never shift a
/// page or appear twice.
/// </summary>
/// <param name="CreatedAt">The last job's creation time.</param>
/// <param name="Id">The last job's id (ties of creation time are ordered by id, as its 16 bytes in RFC 9562 order).</param>
public readonly record struct JobCursor(DateTimeOffset CreatedAt, Guid Id)
{
    /// <summary>The cursor after <paramref name="job"/>.</summary>
    public static JobCursor After(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return new(job.CreatedAt, job.Id);
    }

    /// <summary>Whether <paramref name="job"/> comes after this cursor in the newest-first order.</summary>
    public bool Precedes(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return job.CreatedAt < CreatedAt || (job.CreatedAt == CreatedAt && CompareIds(job.Id, Id) < 0);
    }

    /// <summary>Orders ids as the stores do: by their 16 bytes in RFC 9562 order (the order of their text).</summary>
    public static int CompareIds(Guid left, Guid right)
    {
        Span<byte> a = stackalloc byte[16];
        Span<byte> b = stackalloc byte[16];
        left.TryWriteBytes(a, bigEndian: true, out _);
        right.TryWriteBytes(b, bigEndian: true, out _);
        return a.SequenceCompareTo(b);
    }

    /// <summary>The cursor as the API shows it: opaque, URL-safe.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[24];
        BinaryPrimitives.WriteInt64BigEndian(bytes, CreatedAt.UtcTicks);
        Id.TryWriteBytes(bytes[8..], bigEndian: true, out _);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Reads a cursor that <see cref="ToString"/> wrote; false for anything else.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out JobCursor? cursor)
    {
        cursor = null;
        if (text is not { Length: 32 })
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[24];
        if (!Convert.TryFromBase64String(text.Replace('-', '+').Replace('_', '/'), bytes, out var written) || written != 24)
        {
            return false;
        }

        var ticks = BinaryPrimitives.ReadInt64BigEndian(bytes);
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return false;
        }

        cursor = new JobCursor(new DateTimeOffset(ticks, TimeSpan.Zero), new Guid(bytes[8..], bigEndian: true));
        return true;
    }
}
