using System.Reactive.Concurrency;
using Reactive.Management.Events;
using Reactive.Management.Storage;
using Xunit;

namespace Reactive.Management.Tests.Events;

/// <summary>What every event log must do; each log runs this same suite (PostgreSQL's in <c>PostgresContractTests</c>).</summary>
public abstract class EventLogContract : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);

    private protected abstract IEventLog Log { get; }

    /// <summary>Another writer of the same log: another replica's, where the log is shared.</summary>
    private protected virtual IEventLog OtherWriter => Log;

    [Fact]
    public async Task Appended_events_get_consecutive_growing_ids_in_their_order_and_read_back_field_for_field()
    {
        var written = new[]
        {
            new ManagementEvent(0, ManagementEventTypes.JobCreated, T0, "peer-a", Guid.NewGuid(), Guid.NewGuid(), null),
            new ManagementEvent(0, ManagementEventTypes.PeerDisconnected, T0.AddTicks(1), "peer-a", null, null, "stuck"),
            new ManagementEvent(0, ManagementEventTypes.JobFailed, T0.AddSeconds(1), null, Guid.NewGuid(), null, "timed out ünïcode"),
        };

        var recorded = await Log.AppendAsync(written);

        Assert.Equal(written.Select(item => item.Type), recorded.Select(item => item.Type));
        Assert.Equal([recorded[0].Id, recorded[0].Id + 1, recorded[0].Id + 2], recorded.Select(item => item.Id));
        Assert.True(recorded[0].Id > 0);
        Assert.Equal(recorded, await Log.ReadAfterAsync(0, 10));
        Assert.Equal(recorded.Skip(1), await Log.ReadAfterAsync(recorded[0].Id, 10));
        Assert.Equal(recorded.Take(2), await Log.ReadAfterAsync(0, 2));
        Assert.Empty(await Log.AppendAsync([]));
    }

    [Fact]
    public async Task The_range_tells_the_oldest_kept_and_the_newest_given_and_ids_are_never_given_again_after_pruning()
    {
        Assert.Equal((null, 0L), await Log.RangeAsync());
        var old = await Log.AppendAsync([Event(T0), Event(T0.AddMinutes(1))]);
        var recent = await Log.AppendAsync([Event(T0.AddHours(1))]);
        Assert.Equal((old[0].Id, recent[0].Id), await Log.RangeAsync());

        await Log.PruneAsync(T0.AddMinutes(30));
        Assert.Equal((recent[0].Id, recent[0].Id), await Log.RangeAsync());
        Assert.Equal(recent, await Log.ReadAfterAsync(0, 10));

        await Log.PruneAsync(T0.AddDays(1));
        Assert.Equal((null, recent[0].Id), await Log.RangeAsync());
        var next = await Log.AppendAsync([Event(T0.AddDays(2))]);
        Assert.Equal(recent[0].Id + 1, next[0].Id);
    }

    [Fact]
    public async Task Pruning_forgets_a_prefix_of_ids_even_when_times_are_out_of_order_so_no_hole_is_left_for_a_resume_to_skip()
    {
        // Times come from each replica's clock and need not follow the ids: here every other event is older.
        int[] minutes = [0, 5, 1, 6, 2, 10, 3, 11, 12];
        var recorded = await Log.AppendAsync([.. minutes.Select(minute => Event(T0.AddMinutes(minute)))]);

        // Older than 4 min: the 1st, 3rd, 5th and 7th. Forgotten: everything up to the 7th, kept: the last two.
        await Log.PruneAsync(T0.AddMinutes(4));

        Assert.Equal(recorded.Skip(7), await Log.ReadAfterAsync(0, 100));
        Assert.Equal((recorded[7].Id, recorded[^1].Id), await Log.RangeAsync());
    }

    [Fact]
    public async Task Under_concurrent_writers_a_reader_that_has_seen_an_id_has_seen_every_id_below_it()
    {
        // Four writers (two on another replica where the log is shared) append groups of seeded random sizes at once,
        // while a reader follows the log the way the event feed does: everything after the last id it saw. A page that
        // skips an id would mean an append with a smaller id committed later, and the feed would never publish it.
        var random = new Random(20261128);
        var groups = Enumerable.Range(0, 4).Select(writer => Enumerable.Range(0, 40).Select(_ => random.Next(1, 30)).ToList()).ToList();
        var total = groups.Sum(sizes => sizes.Sum());
        var writing = groups.Select((sizes, writer) => Task.Run(async () =>
        {
            var log = writer % 2 == 0 ? Log : OtherWriter;
            var ids = new List<long>();
            foreach (var size in sizes)
            {
                var recorded = await log.AppendAsync([.. Enumerable.Range(0, size).Select(_ => Event(T0, detail: $"writer {writer}"))]);
                ids.AddRange(recorded.Select(item => item.Id));
            }

            return ids;
        })).ToList();

        var seen = new List<ManagementEvent>();
        while (seen.Count < total)
        {
            var last = seen.Count == 0 ? 0 : seen[^1].Id;
            // Looked at before the read: once every writer is done, a read must find what is missing.
            var writersDone = writing.All(task => task.IsCompleted);
            var page = await Log.ReadAfterAsync(last, 50);
            for (var i = 0; i < page.Count; i++)
            {
                Assert.True(page[i].Id == last + 1 + i, $"after id {last} the log showed {string.Join(", ", page.Select(item => item.Id))}: an id was skipped");
            }

            seen.AddRange(page);
            Assert.False(page.Count == 0 && writersDone && seen.Count < total, $"the writers are done, but only {seen.Count} of {total} events can be read");
        }

        var written = await Task.WhenAll(writing);
        Assert.Equal(total, seen.Count);
        Assert.Equal(seen.Select(item => item.Id).Order(), written.SelectMany(ids => ids).Order());
        // Each writer's events are in the log in the order it wrote them.
        Assert.All(written, ids => Assert.Equal(ids.Order(), ids));
    }

    public void Dispose()
    {
        DisposeLog();
        GC.SuppressFinalize(this);
    }

    protected virtual void DisposeLog()
    {
    }

    private static ManagementEvent Event(DateTimeOffset at, string? detail = null) =>
        new(0, ManagementEventTypes.JobCreated, at, "peer", Guid.NewGuid(), null, detail);
}

public sealed class InMemoryEventLogTests : EventLogContract
{
    private protected override IEventLog Log { get; } = new InMemoryEventLog();
}

public sealed class SqliteEventLogTests : EventLogContract
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-events-").FullName;

    public SqliteEventLogTests() => Log = new SqliteEventLog(new SqliteDatabase(Path.Combine(_folder, "management.db")));

    private protected override IEventLog Log { get; }

    protected override void DisposeLog()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
