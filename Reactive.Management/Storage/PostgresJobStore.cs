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
    private const string Values = "@id, @peer_id, @peer_key, @workload, @status, @created_at, @sent_at, @completed_at, @upload_key, @failed_reason, @idempotency_key";

    /// <inheritdoc />
    public async ValueTask AddAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        await using var command = await database.CommandAsync($"INSERT INTO jobs ({Columns}) VALUES ({Values})", cancellationToken).ConfigureAwait(false);
        Bind(command, job);
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new InvalidOperationException($"A job with the id {job.Id} (or the idempotency key of peer {job.PeerId}) exists already.", exception);
        }
    }

    /// <inheritdoc />
    public async ValueTask<Job> AddOrFindByIdempotencyKeyAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(job.IdempotencyKey);
        await using (var insert = await database.CommandAsync(
            $"INSERT INTO jobs ({Columns}) VALUES ({Values}) ON CONFLICT (peer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
            cancellationToken).ConfigureAwait(false))
        {
            Bind(insert, job);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
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

        await using var command = await database.CommandAsync(
            """
            UPDATE jobs SET status = @status, sent_at = @sent_at, completed_at = @completed_at,
                            upload_key = @upload_key, failed_reason = @failed_reason
            WHERE id = @id AND status = ANY(@expected)
            """,
            cancellationToken).ConfigureAwait(false);
        Bind(command, updated);
        command.Parameters.AddWithValue("expected", expectedStates.Select(state => state.ToName()).ToArray());
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
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

    /// <summary>The keys of peers that have pending jobs (for the replica's poll).</summary>
    public async ValueTask<IReadOnlyList<WireGuardPublicKey>> PeersWithPendingJobsAsync(CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync("SELECT DISTINCT peer_key FROM jobs WHERE status = 'pending'", cancellationToken).ConfigureAwait(false);
        var keys = new List<WireGuardPublicKey>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            keys.Add(WireGuardPublicKey.Parse(reader.GetString(0)));
        }

        return keys;
    }

    private static void Bind(NpgsqlCommand command, Job job)
    {
        command.Parameters.AddWithValue("id", job.Id);
        command.Parameters.AddWithValue("peer_id", job.PeerId);
        command.Parameters.AddWithValue("peer_key", job.PeerKey.ToString());
        command.Parameters.AddWithValue("workload", job.Bundle.ToByteArray());
        command.Parameters.AddWithValue("status", job.State.ToName());
        command.Parameters.AddWithValue("created_at", ToTicks(job.CreatedAt));
        command.Parameters.AddWithValue("sent_at", NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(job.SentAt));
        command.Parameters.AddWithValue("completed_at", NpgsqlTypes.NpgsqlDbType.Bigint, ToTicksOrNull(job.CompletedAt));
        command.Parameters.AddWithValue("upload_key", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.UploadKey));
        command.Parameters.AddWithValue("failed_reason", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.FailedReason));
        command.Parameters.AddWithValue("idempotency_key", NpgsqlTypes.NpgsqlDbType.Text, OrNull(job.IdempotencyKey));
    }
}
