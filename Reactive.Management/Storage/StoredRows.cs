using System.Data.Common;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>Rows of the <c>jobs</c> and <c>peers</c> tables as both databases return them.</summary>
internal static class StoredRows
{
    /// <summary>The <c>jobs</c> columns, in the order <see cref="ReadJob"/> reads them.</summary>
    public const string JobColumns = "id, peer_id, peer_key, workload, status, created_at, sent_at, completed_at, upload_key, failed_reason, idempotency_key, batch_id, created_by, cancelled_by";

    /// <summary>The <c>peers</c> columns, in the order <see cref="ReadPeer"/> reads them.</summary>
    public const string PeerColumns = "id, wg_pub_key, name, created_at, remote_jobs_allowed";

    public static Job ReadJob(DbDataReader reader) => new(
        // SQLite keeps the id as text, PostgreSQL as uuid.
        reader.GetValue(0) is Guid id ? id : Guid.Parse(reader.GetString(0)),
        reader.GetString(1),
        WireGuardPublicKey.Parse(reader.GetString(2)),
        BundleParameters.Parser.ParseFrom((byte[])reader.GetValue(3)),
        JobStateNames.Parse(reader.GetString(4)),
        FromTicks(reader.GetInt64(5)),
        NullableTicks(reader, 6),
        NullableTicks(reader, 7),
        reader.IsDBNull(8) ? null : reader.GetString(8),
        reader.IsDBNull(9) ? null : reader.GetString(9),
        reader.IsDBNull(10) ? null : reader.GetString(10),
        reader.IsDBNull(11) ? null : reader.GetValue(11) is Guid batchId ? batchId : Guid.Parse(reader.GetString(11)),
        reader.IsDBNull(12) ? null : reader.GetString(12),
        reader.IsDBNull(13) ? null : reader.GetString(13));

    /// <summary>The <c>batches</c> columns, in the order <see cref="ReadBatch"/> reads them.</summary>
    public const string BatchColumns = "id, created_at, job_count, max_in_flight, cancelled_at";

    public static JobBatch ReadBatch(DbDataReader reader) => new(
        reader.GetValue(0) is Guid id ? id : Guid.Parse(reader.GetString(0)),
        FromTicks(reader.GetInt64(1)),
        reader.GetInt32(2),
        reader.IsDBNull(3) ? null : reader.GetInt32(3),
        NullableTicks(reader, 4));

    /// <summary>Counts per state from rows of (status, count).</summary>
    public static async Task<IReadOnlyDictionary<JobState, int>> ReadCountsAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var rows = await ReadAllAsync(command, reader => (State: JobStateNames.Parse(reader.GetString(0)), Count: Convert.ToInt32(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture)), cancellationToken).ConfigureAwait(false);
        return rows.ToDictionary(row => row.State, row => row.Count);
    }

    public static Peer ReadPeer(DbDataReader reader) =>
        // SQLite keeps the flag as an integer, PostgreSQL as a boolean.
        new(reader.GetString(0), WireGuardPublicKey.Parse(reader.GetString(1)), reader.GetString(2), FromTicks(reader.GetInt64(3)),
            reader.IsDBNull(4) ? null : Convert.ToBoolean(reader.GetValue(4), System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The events table's columns, in the order <see cref="ReadEvent"/> reads them.</summary>
    public const string EventColumns = "id, type, at, peer_id, job_id, batch_id, detail";

    /// <summary>An event, from <see cref="EventColumns"/> (ids as TEXT in SQLite, uuid in PostgreSQL).</summary>
    public static Events.ManagementEvent ReadEvent(DbDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        FromTicks(reader.GetInt64(2)),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.IsDBNull(4) ? null : reader.GetGuid(4),
        reader.IsDBNull(5) ? null : reader.GetGuid(5),
        reader.IsDBNull(6) ? null : reader.GetString(6));

    /// <summary>Reads every row of <paramref name="command"/> with <paramref name="read"/>.</summary>
    public static async Task<List<T>> ReadAllAsync<T>(DbCommand command, Func<DbDataReader, T> read, CancellationToken cancellationToken)
    {
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    private static DateTimeOffset? NullableTicks(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : FromTicks(reader.GetInt64(ordinal));
}
