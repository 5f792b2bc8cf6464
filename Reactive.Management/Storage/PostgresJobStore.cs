using Google.Protobuf;
using Npgsql;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;
using Reactive.Management.Jobs;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>
/// Jobs in PostgreSQL, shared by several management replicas. The same contract as <see cref="SqliteJobStore"/>:
/// every change a conditional update, durable when it returns (PostgreSQL commits are).
/// </summary>
internal sealed class PostgresJobStore(PostgresDatabase database) : IJobStore
{
    private const string Columns = StoredRows.JobColumns;
    private const string Values = "@id, @peer_id, @peer_key, @workload, @status, @created_at, @sent_at, @completed_at, @upload_key, @failed_reason, @idempotency_key, @batch_id, @created_by, @cancelled_by";

    /// <inheritdoc />
    public async ValueTask AddAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        // A conflict is told by the rows inserted, not by an error: an error would undo the whole batch of writes it is in.
        var inserted = await database.WriteAsync(
            $"INSERT INTO jobs ({Columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
            parameters => BindInOrder(parameters, job),
            cancellationToken).ConfigureAwait(false);
        if (inserted == 0)
        {
            throw new InvalidOperationException($"A job with the id {job.Id} (or the idempotency key of peer {job.PeerId}) exists already.");
        }
    }

    /// <inheritdoc />
    public async ValueTask<Job> AddOrFindByIdempotencyKeyAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(job.IdempotencyKey);
        await database.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        await using (var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
        {
            await PostgresDatabase.LockEventIdsAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            await using var insert = new NpgsqlCommand(
                $"INSERT INTO jobs ({Columns}) VALUES ({Values}) ON CONFLICT (peer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
                connection,
                transaction);
            Bind(insert, job);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        // Rows are never deleted: whichever insert won, its row is there to read.
        await using var select = await database.CommandAsync($"SELECT {Columns} FROM jobs WHERE peer_id = @peer_id AND idempotency_key = @idempotency_key", cancellationToken).ConfigureAwait(false);
        select.Parameters.AddWithValue("peer_id", job.PeerId);
        select.Parameters.AddWithValue("idempotency_key", job.IdempotencyKey);
        return (await StoredRows.ReadAllAsync(select, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false)).Single();
    }

    /// <inheritdoc />
    public async ValueTask<Job?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync($"SELECT {Columns} FROM jobs WHERE id = @id", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("id", id);
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

        var expected = expectedStates.Select(state => state.ToName()).ToArray();
        var updatedRows = await database.WriteAsync(
            "UPDATE jobs SET status = $2, sent_at = $3, completed_at = $4, upload_key = $5, failed_reason = $6, cancelled_by = $7 WHERE id = $1 AND status = ANY($8)",
            parameters =>
            {
                parameters.AddWithValue(updated.Id);
                parameters.AddWithValue(updated.State.ToName());
                parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(updated.SentAt));
                parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(updated.CompletedAt));
                parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(updated.UploadKey));
                parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(updated.FailedReason));
                parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(updated.CancelledBy));
                parameters.AddWithValue(expected);
            },
            cancellationToken).ConfigureAwait(false);
        return updatedRows == 1;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Job>> ListUnfinishedAsync(WireGuardPublicKey? peer, CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync(
            $"SELECT {Columns} FROM jobs WHERE status IN ('pending', 'sent') {(peer is null ? "" : "AND peer_key = @peer_key")} ORDER BY created_at, seq",
            cancellationToken).ConfigureAwait(false);
        if (peer is not null)
        {
            command.Parameters.AddWithValue("peer_key", peer.ToString());
        }

        return await StoredRows.ReadAllAsync(command, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Guid>> ListUnfinishedIdsAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await using var command = await database.CommandAsync(
            "SELECT id FROM jobs WHERE status IN ('pending', 'sent') AND peer_key = @peer_key ORDER BY created_at, seq",
            cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("peer_key", peer.ToString());
        return await StoredRows.ReadAllAsync(command, reader => reader.GetGuid(0), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<(IReadOnlyList<Job> Page, int Total)> ListByPeerAsync(string peerId, int offset, int limit, CancellationToken cancellationToken = default)
    {
        await using var count = await database.CommandAsync("SELECT COUNT(*) FROM jobs WHERE peer_id = @peer_id", cancellationToken).ConfigureAwait(false);
        count.Parameters.AddWithValue("peer_id", peerId);
        var total = Convert.ToInt32(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

        await using var page = await database.CommandAsync(
            $"SELECT {Columns} FROM jobs WHERE peer_id = @peer_id ORDER BY created_at DESC, seq DESC LIMIT @limit OFFSET @offset",
            cancellationToken).ConfigureAwait(false);
        page.Parameters.AddWithValue("peer_id", peerId);
        page.Parameters.AddWithValue("limit", limit);
        page.Parameters.AddWithValue("offset", offset);
        return (await StoredRows.ReadAllAsync(page, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false), total);
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryMarkSentAsync(Job sent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sent);
        if (sent.BatchId is not { } batchId)
        {
            return await TryUpdateAsync(sent, [JobState.Pending], cancellationToken).ConfigureAwait(false);
        }

        // Replicas mark a batch's jobs sent concurrently: the batch's row lock makes their count-and-update one at a
        // time, and under READ COMMITTED the update's count (a new statement) sees every send committed before the lock.
        await database.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await PostgresDatabase.LockEventIdsAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        await using (var lockBatch = new NpgsqlCommand("SELECT max_in_flight, cancelled_at FROM batches WHERE id = @batch_id FOR UPDATE", connection, transaction))
        {
            lockBatch.Parameters.AddWithValue("batch_id", batchId);
            await using var reader = await lockBatch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false) || !reader.IsDBNull(1))
            {
                return false;
            }
        }

        await using var update = new NpgsqlCommand(
            """
            UPDATE jobs SET status = @status, sent_at = @sent_at
            WHERE id = @id AND status = 'pending' AND (
                SELECT b.max_in_flight IS NULL OR (SELECT count(*) FROM jobs s WHERE s.batch_id = @batch_id AND s.status = 'sent') < b.max_in_flight
                FROM batches b WHERE b.id = @batch_id)
            """,
            connection,
            transaction);
        update.Parameters.AddWithValue("id", sent.Id);
        update.Parameters.AddWithValue("status", sent.State.ToName());
        update.Parameters.AddWithValue("sent_at", NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(sent.SentAt));
        update.Parameters.AddWithValue("batch_id", batchId);
        var updated = await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return updated;
    }

    /// <inheritdoc />
    public async ValueTask AddBatchAsync(JobBatch batch, IReadOnlyList<Job> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(jobs);
        await database.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await PostgresDatabase.LockEventIdsAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            await using (var insertBatch = new NpgsqlCommand(
                $"INSERT INTO batches ({StoredRows.BatchColumns}) VALUES (@id, @created_at, @job_count, @max_in_flight, NULL)", connection, transaction))
            {
                insertBatch.Parameters.AddWithValue("id", batch.Id);
                insertBatch.Parameters.AddWithValue("created_at", ToTicks(batch.CreatedAt));
                insertBatch.Parameters.AddWithValue("job_count", batch.JobCount);
                insertBatch.Parameters.AddWithValue("max_in_flight", NpgsqlTypes.NpgsqlDbType.Integer, batch.MaxInFlight is { } cap ? cap : DBNull.Value);
                await insertBatch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            // Binary COPY: the whole batch in one stream and one commit.
            await using (var copy = await connection.BeginBinaryImportAsync($"COPY jobs ({Columns}) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
            {
                foreach (var job in jobs)
                {
                    await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(job.Id, NpgsqlTypes.NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(job.PeerId, NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(job.PeerKey.ToString(), NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(job.Bundle.ToByteArray(), NpgsqlTypes.NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(job.State.ToName(), NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(ToTicks(job.CreatedAt), NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(ToTicksOrNull(job.SentAt), NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(ToTicksOrNull(job.CompletedAt), NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(OrNull(job.UploadKey), NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(OrNull(job.FailedReason), NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(OrNull(job.IdempotencyKey), NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(job.BatchId is { } batchId ? batchId : (object)DBNull.Value, NpgsqlTypes.NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(OrNull(job.CreatedBy), NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(OrNull(job.CancelledBy), NpgsqlTypes.NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                }

                await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new InvalidOperationException($"A batch with the id {batch.Id}, or one of its jobs' ids, exists already.", exception);
        }
    }

    /// <inheritdoc />
    public async ValueTask<JobBatch?> FindBatchAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync($"SELECT {StoredRows.BatchColumns} FROM batches WHERE id = @id", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("id", id);
        var batches = await StoredRows.ReadAllAsync(command, StoredRows.ReadBatch, cancellationToken).ConfigureAwait(false);
        return batches.Count == 0 ? null : batches[0];
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<JobState, int>> CountBatchAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync("SELECT status, count(*) FROM jobs WHERE batch_id = @id GROUP BY status", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("id", id);
        return await StoredRows.ReadCountsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<JobBatch?> CancelBatchAsync(Guid id, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using (var command = await database.CommandAsync("UPDATE batches SET cancelled_at = @at WHERE id = @id AND cancelled_at IS NULL", cancellationToken).ConfigureAwait(false))
        {
            command.Parameters.AddWithValue("id", id);
            command.Parameters.AddWithValue("at", ToTicks(at));
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return await FindBatchAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<JobPage> QueryAsync(JobQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var command = await database.CommandAsync("", cancellationToken).ConfigureAwait(false);
        JobQuerySql.Prepare(query, command, id => id);
        return JobPage.FromRows(await StoredRows.ReadAllAsync(command, StoredRows.ReadJob, cancellationToken).ConfigureAwait(false), query.Limit);
    }

    /// <summary>
    /// The keys of peers that have pending jobs that could be sent now (for the replica's poll): jobs of a cancelled
    /// batch, or of a batch at its cap, wait for the batch, not for their peer.
    /// </summary>
    public async ValueTask<IReadOnlyList<WireGuardPublicKey>> PeersWithPendingJobsAsync(CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync(
            """
            SELECT DISTINCT j.peer_key FROM jobs j LEFT JOIN batches b ON b.id = j.batch_id
            WHERE j.status = 'pending' AND (j.batch_id IS NULL OR (b.cancelled_at IS NULL AND (
                b.max_in_flight IS NULL OR (SELECT count(*) FROM jobs s WHERE s.batch_id = b.id AND s.status = 'sent') < b.max_in_flight)))
            """,
            cancellationToken).ConfigureAwait(false);
        var keys = new List<WireGuardPublicKey>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            keys.Add(WireGuardPublicKey.Parse(reader.GetString(0)));
        }

        return keys;
    }

    private static void Bind(NpgsqlCommand command, Job job) => Bind(command.Parameters, job);

    /// <summary>
    /// The job's columns as positional parameters <c>$1</c>…<c>$12</c>, in <see cref="StoredRows.JobColumns"/> order: a
    /// batched statement with positional parameters is sent as written (named ones are rewritten on every run).
    /// </summary>
    private static void BindInOrder(NpgsqlParameterCollection parameters, Job job)
    {
        parameters.AddWithValue(job.Id);
        parameters.AddWithValue(job.PeerId);
        parameters.AddWithValue(job.PeerKey.ToString());
        parameters.AddWithValue(job.Bundle.ToByteArray());
        parameters.AddWithValue(job.State.ToName());
        parameters.AddWithValue(ToTicks(job.CreatedAt));
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(job.SentAt));
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(job.CompletedAt));
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.UploadKey));
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.FailedReason));
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.IdempotencyKey));
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Uuid, job.BatchId is { } batchId ? batchId : DBNull.Value);
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.CreatedBy));
        parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.CancelledBy));
    }

    private static void Bind(NpgsqlParameterCollection parameters, Job job)
    {
        parameters.AddWithValue("id", job.Id);
        parameters.AddWithValue("peer_id", job.PeerId);
        parameters.AddWithValue("peer_key", job.PeerKey.ToString());
        parameters.AddWithValue("workload", job.Bundle.ToByteArray());
        parameters.AddWithValue("status", job.State.ToName());
        parameters.AddWithValue("created_at", ToTicks(job.CreatedAt));
        parameters.AddWithValue("sent_at", NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(job.SentAt));
        parameters.AddWithValue("completed_at", NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(job.CompletedAt));
        parameters.AddWithValue("upload_key", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.UploadKey));
        parameters.AddWithValue("failed_reason", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.FailedReason));
        parameters.AddWithValue("idempotency_key", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.IdempotencyKey));
        parameters.AddWithValue("batch_id", NpgsqlTypes.NpgsqlDbType.Uuid, job.BatchId is { } batchId ? batchId : DBNull.Value);
        parameters.AddWithValue("created_by", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.CreatedBy));
        parameters.AddWithValue("cancelled_by", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.CancelledBy));
    }
}
