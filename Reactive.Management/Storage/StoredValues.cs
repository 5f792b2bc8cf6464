namespace Reactive.Management.Storage;

/// <summary>How timestamps are stored (SQLite INTEGER, PostgreSQL bigint): UTC ticks, exact both ways.</summary>
internal static class StoredValues
{
    public static long ToTicks(DateTimeOffset value) => value.UtcTicks;

    public static object ToTicksOrNull(DateTimeOffset? value) => value is { } v ? v.UtcTicks : DBNull.Value;

    public static DateTimeOffset FromTicks(long ticks) => new(ticks, TimeSpan.Zero);

    public static object OrNull(string? value) => value is null ? DBNull.Value : value;
}
