using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;
using Reactive.Management.Jobs;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>The default job store: one SQLite file, durable on every commit (WAL, synchronous=FULL).</summary>
internal sealed class SqliteJobStore(SqliteDatabase database) : IJobStore
{
    private const string Columns = StoredRows.JobColumns;
    private const string Values = "$id, $peer_id, $peer_key, $workload, $status, $created_at, $sent_at, $completed_at, $upload_key, $failed_reason, $idempotency_key, $batch_id, $created_by, $cancelled_by";
    private const string Insert = $"INSERT INTO jobs ({Columns}) VALUES ({Values})";

    /// <inheritdoc />
    public async ValueTask AddAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        try
        {
            await database.WriteOneStatementAsync(
                async (connection, ct) =>
                {
                    var command = database.Prepared(connection, Insert);
                    Bind(command, job);
                    return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException exception) when (exception.SqliteErrorCode == SqliteDatabase.SqliteConstraint)
        {
            // The id (or the peer's idempotency key) is taken; every store says so the same way.
            throw new InvalidOperationException($"A job with the id {job.Id} (or the idempotency key of peer {job.PeerId}) exists already.", exception);
        }
    }

    /// <inheritdoc />
    public async ValueTask<Job> AddOrFindByIdempotencyKeyAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(job.IdempotencyKey);
        var stored = await database.WriteAsync(
            async (connection, ct) =>
            {
                // One writer at a time (the database's gate): the insert and the read see the same state.
                await using var insert = connection.CreateCommand();
                insert.CommandText = $"INSERT INTO jobs ({Columns}) VALUES ({Values}) ON CONFLICT (peer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING";
                Bind(insert, job);
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await using var select = connection.CreateCommand();
                select.CommandText = $"SELECT {Columns} FROM jobs WHERE peer_id = $peer_id AND idempotency_key = $idempotency_key";
                select.Parameters.AddWithValue("$peer_id", job.PeerId);
                select.Parameters.AddWithValue("$idempotency_key", job.IdempotencyKey);
                return await StoredRows.ReadAllAsync(select, StoredRows.ReadJob, ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        return stored.Single();
    }

    /// <inheritdoc />
    public async ValueTask<Job?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM jobs WHERE id = $id";
        command.Parameters.AddWithValue("$id", id.ToString());
        var jobs = await StoredRows.ReadAllAsync(command, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false);
        return jobs.Count == 0 ? null : jobs[0];
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryUpdateAsync(Job updated, IReadOnlyCollection<JobState> expectedStates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(updated);
        ArgumentNullException.ThrowIfNull(expectedStates);
        if (expectedStates.Count == 0)
        {
            return false;
        }

        var expected = string.Join(", ", expectedStates.Select((_, i) => $"$expected{i}"));
        var updatedRows = await database.WriteOneStatementAsync(
            async (connection, ct) =>
            {
                var command = database.Prepared(
                    connection,
                    $"""
                    UPDATE jobs SET status = $status, sent_at = $sent_at, completed_at = $completed_at,
                                    upload_key = $upload_key, failed_reason = $failed_reason, cancelled_by = $cancelled_by
                    WHERE id = $id AND status IN ({expected})
                    """);
                Bind(command, updated);
                foreach (var (state, i) in expectedStates.Select((state, i) => (state, i)))
                {
                    command.Parameters.AddWithValue($"$expected{i}", state.ToName());
                }

                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        return updatedRows == 1;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Job>> ListUnfinishedAsync(WireGuardPublicKey? peer, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText =
            $"SELECT {Columns} FROM jobs WHERE status IN ('pending', 'sent') {(peer is null ? "" : "AND peer_key = $peer_key")} ORDER BY created_at, rowid";
        if (peer is not null)
        {
            command.Parameters.AddWithValue("$peer_key", peer.ToString());
        }

        return await StoredRows.ReadAllAsync(command, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Guid>> ListUnfinishedIdsAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM jobs WHERE status IN ('pending', 'sent') AND peer_key = $peer_key ORDER BY created_at, rowid";
        command.Parameters.AddWithValue("$peer_key", peer.ToString());
        return await StoredRows.ReadAllAsync(command, reader => Guid.Parse(reader.GetString(0)), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<(IReadOnlyList<Job> Page, int Total)> ListByPeerAsync(string peerId, int offset, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM jobs WHERE peer_id = $peer_id";
        count.Parameters.AddWithValue("$peer_id", peerId);
        var total = Convert.ToInt32(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

        await using var page = connection.CreateCommand();
        page.CommandText = $"SELECT {Columns} FROM jobs WHERE peer_id = $peer_id ORDER BY created_at DESC, rowid DESC LIMIT $limit OFFSET $offset";
        page.Parameters.AddWithValue("$peer_id", peerId);
        page.Parameters.AddWithValue("$limit", limit);
        page.Parameters.AddWithValue("$offset", offset);
        return (await StoredRows.ReadAllAsync(page, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false), total);
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryMarkSentAsync(Job sent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sent);
        // One statement run by the one writer: the cap is read and the job marked sent with no other write between.
        var updatedRows = await database.WriteOneStatementAsync(
            async (connection, ct) =>
            {
                var command = database.Prepared(
                    connection,
                    """
                    UPDATE jobs SET status = $status, sent_at = $sent_at
                    WHERE id = $id AND status = 'pending' AND (
                        $batch_id IS NULL OR EXISTS (
                            SELECT 1 FROM batches b WHERE b.id = $batch_id AND b.cancelled_at IS NULL AND (
                                b.max_in_flight IS NULL OR
                                (SELECT COUNT(*) FROM jobs s WHERE s.batch_id = $batch_id AND s.status = 'sent') < b.max_in_flight)))
                    """);
                command.Parameters.AddWithValue("$id", sent.Id.ToString());
                command.Parameters.AddWithValue("$status", sent.State.ToName());
                command.Parameters.AddWithValue("$sent_at", ToTicksOrNull(sent.SentAt));
                command.Parameters.AddWithValue("$batch_id", sent.BatchId is { } batchId ? batchId.ToString() : DBNull.Value);
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        return updatedRows == 1;
    }

    /// <inheritdoc />
    public async ValueTask AddBatchAsync(JobBatch batch, IReadOnlyList<Job> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(jobs);
        try
        {
            await database.WriteAsync(
                async (connection, ct) =>
                {
                    await using (var insertBatch = connection.CreateCommand())
                    {
                        insertBatch.CommandText = $"INSERT INTO batches ({StoredRows.BatchColumns}) VALUES ($id, $created_at, $job_count, $max_in_flight, $cancelled_at)";
                        insertBatch.Parameters.AddWithValue("$id", batch.Id.ToString());
                        insertBatch.Parameters.AddWithValue("$created_at", ToTicks(batch.CreatedAt));
                        insertBatch.Parameters.AddWithValue("$job_count", batch.JobCount);
                        insertBatch.Parameters.AddWithValue("$max_in_flight", batch.MaxInFlight is { } cap ? cap : DBNull.Value);
                        insertBatch.Parameters.AddWithValue("$cancelled_at", ToTicksOrNull(batch.CancelledAt));
                        await insertBatch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    // One prepared statement, its parameters rebound per job: the whole batch is one savepoint of one commit.
                    var insert = database.Prepared(connection, Insert);
                    foreach (var job in jobs)
                    {
                        insert.Parameters.Clear();
                        Bind(insert, job);
                        await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    return jobs.Count;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException exception) when (exception.SqliteErrorCode == SqliteDatabase.SqliteConstraint)
        {
            throw new InvalidOperationException($"A batch with the id {batch.Id}, or one of its jobs' ids, exists already.", exception);
        }
    }

    /// <inheritdoc />
    public async ValueTask<JobBatch?> FindBatchAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {StoredRows.BatchColumns} FROM batches WHERE id = $id";
        command.Parameters.AddWithValue("$id", id.ToString());
        var batches = await StoredRows.ReadAllAsync(command, StoredRows.ReadBatch, cancellationToken).ConfigureAwait(false);
        return batches.Count == 0 ? null : batches[0];
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<JobState, int>> CountBatchAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT status, COUNT(*) FROM jobs WHERE batch_id = $id GROUP BY status";
        command.Parameters.AddWithValue("$id", id.ToString());
        return await StoredRows.ReadCountsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<JobBatch?> CancelBatchAsync(Guid id, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await database.WriteOneStatementAsync(
            async (connection, ct) =>
            {
                await using var command = connection.CreateCommand();
                command.CommandText = "UPDATE batches SET cancelled_at = $at WHERE id = $id AND cancelled_at IS NULL";
                command.Parameters.AddWithValue("$id", id.ToString());
                command.Parameters.AddWithValue("$at", ToTicks(at));
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        return await FindBatchAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<JobPage> QueryAsync(JobQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        JobQuerySql.Prepare(query, command, id => id.ToString());
        return JobPage.FromRows(await StoredRows.ReadAllAsync(command, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false), query.Limit);
    }

    private static void Bind(SqliteCommand command, Job job)
    {
        command.Parameters.AddWithValue("$id", job.Id.ToString());
        command.Parameters.AddWithValue("$peer_id", job.PeerId);
        command.Parameters.AddWithValue("$peer_key", job.PeerKey.ToString());
        command.Parameters.AddWithValue("$workload", job.Bundle.ToByteArray());
        command.Parameters.AddWithValue("$status", job.State.ToName());
        command.Parameters.AddWithValue("$created_at", ToTicks(job.CreatedAt));
        command.Parameters.AddWithValue("$sent_at", ToTicksOrNull(job.SentAt));
        command.Parameters.AddWithValue("$completed_at", ToTicksOrNull(job.CompletedAt));
        command.Parameters.AddWithValue("$upload_key", OrNull(job.UploadKey));
        command.Parameters.AddWithValue("$failed_reason", OrNull(job.FailedReason));
        command.Parameters.AddWithValue("$idempotency_key", OrNull(job.IdempotencyKey));
        command.Parameters.AddWithValue("$batch_id", job.BatchId is { } batchId ? batchId.ToString() : DBNull.Value);
        command.Parameters.AddWithValue("$created_by", OrNull(job.CreatedBy));
        command.Parameters.AddWithValue("$cancelled_by", OrNull(job.CancelledBy));
    }
}
