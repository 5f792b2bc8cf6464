using System.Data.Common;
using Reactive.Management.Jobs;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>
/// A <see cref="JobQuery"/> as SQL both databases run (both take <c>@name</c> parameters): keyset paging on
/// (<c>created_at</c>, <c>id</c>) descending, one row more than the limit to tell whether a next page exists.
/// </summary>
internal static class JobQuerySql
{
    /// <param name="query">What to select.</param>
    /// <param name="command">The command to fill.</param>
    /// <param name="storedId">An id as the database keeps it (SQLite: text, PostgreSQL: uuid).</param>
    public static void Prepare(JobQuery query, DbCommand command, Func<Guid, object> storedId)
    {
        var conditions = new List<string>();
        if (query.State is { } state)
        {
            conditions.Add("status = @status");
            Add(command, "status", state.ToName());
        }

        if (query.PeerId is { } peerId)
        {
            conditions.Add("peer_id = @peer_id");
            Add(command, "peer_id", peerId);
        }

        if (query.BatchId is { } batchId)
        {
            conditions.Add("batch_id = @batch_id");
            Add(command, "batch_id", storedId(batchId));
        }

        if (query.CreatedAfter is { } createdAfter)
        {
            conditions.Add("created_at > @created_after");
            Add(command, "created_after", ToTicks(createdAfter));
        }

        if (query.After is { } after)
        {
            conditions.Add("(created_at < @after_created_at OR (created_at = @after_created_at AND id < @after_id))");
            Add(command, "after_created_at", ToTicks(after.CreatedAt));
            Add(command, "after_id", storedId(after.Id));
        }

        command.CommandText =
            $"SELECT {StoredRows.JobColumns} FROM jobs {(conditions.Count == 0 ? "" : "WHERE " + string.Join(" AND ", conditions))} ORDER BY created_at DESC, id DESC LIMIT @limit";
        Add(command, "limit", query.Limit + 1);
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
