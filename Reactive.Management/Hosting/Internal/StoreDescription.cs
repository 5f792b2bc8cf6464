using Reactive.Management.Storage;

namespace Reactive.Management.Hosting.Internal;

/// <summary>The configured store as an operator knows it (its file, or PostgreSQL), and whether it can write.</summary>
internal sealed class StoreDescription(string name, SqliteDatabase? sqlite)
{
    /// <summary>E.g. <c>SQLite database '/var/lib/management/management.db'</c>; never a connection string.</summary>
    public string Name { get; } = name;

    /// <summary>Why the store cannot take writes now, or null (only SQLite knows without trying).</summary>
    public ValueTask<string?> WriteProblemAsync(CancellationToken cancellationToken) =>
        sqlite?.WriteProblemAsync(cancellationToken) ?? ValueTask.FromResult<string?>(null);
}
