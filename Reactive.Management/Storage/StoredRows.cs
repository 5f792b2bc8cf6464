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
    public const string JobColumns = "id, peer_id, peer_key, workload, status, created_at, sent_at, completed_at, upload_key, failed_reason, idempotency_key";

    /// <summary>The <c>peers</c> columns, in the order <see cref="ReadPeer"/> reads them.</summary>
    public const string PeerColumns = "id, wg_pub_key, name, created_at";

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
        reader.IsDBNull(10) ? null : reader.GetString(10));

    public static Peer ReadPeer(DbDataReader reader) =>
        new(reader.GetString(0), WireGuardPublicKey.Parse(reader.GetString(1)), reader.GetString(2), FromTicks(reader.GetInt64(3)));

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
