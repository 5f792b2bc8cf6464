using System.Reactive.Linq;
using System.Reactive.Subjects;
using Microsoft.Reactive.Testing;
using Reactive.Management.Streams;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Streams;

public class StreamWriterObservableExtensionsTests
{
    [Fact]
    public async Task Items_are_written_in_order_one_write_at_a_time()
    {
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: false);
        var source = new Subject<int>();
        var writing = source.WriteAllAsync(writer, CancellationToken.None);

        source.OnNext(1);
        source.OnNext(2);
        source.OnNext(3);
        Assert.Equal([1], writer.Started);

        writer.CompletePending();
        await Eventually.TrueAsync(() => writer.Started.Count == 2, "the second write to start");
        Assert.Equal([1], writer.Written);

        writer.CompletePending();
        await Eventually.TrueAsync(() => writer.Started.Count == 3, "the third write to start");
        source.OnCompleted();
        Assert.False(writing.IsCompleted, "the last write is still pending");

        writer.CompletePending();
        await writing;
        Assert.Equal([1, 2, 3], writer.Written);
    }

    [Fact]
    public async Task WriteTo_emits_each_item_after_its_write_completed()
    {
        var writer = new ScriptedStreamWriter<string>(completeAtOnce: false);
        var source = new Subject<string>();
        var emitted = new List<string>();
        using var subscription = source.WriteTo(writer, CancellationToken.None).Subscribe(emitted.Add);

        source.OnNext("a");
        Assert.Empty(emitted);
        writer.CompletePending();

        await Eventually.TrueAsync(() => emitted.Count == 1, "'a' to be emitted after its write");
        Assert.Equal(["a"], emitted);
    }

    [Fact]
    public async Task Cancellation_waits_for_the_write_in_flight_and_drops_the_waiting_items()
    {
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: false);
        var source = new Subject<int>();
        using var call = new CancellationTokenSource();
        var writing = source.WriteAllAsync(writer, call.Token);
        source.OnNext(1);
        source.OnNext(2);

        await call.CancelAsync();

        // The in-flight write was cancelled with the call; the task ends only after it has settled.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writing);
        Assert.False(writer.HasPendingWrite);
        Assert.Equal([1], writer.Started);
        await Eventually.TrueAsync(() => !source.HasObservers, "the source to be unsubscribed");
    }

    [Fact]
    public async Task Nothing_is_written_after_the_call_is_cancelled()
    {
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: true);
        var source = new Subject<int>();
        using var call = new CancellationTokenSource();
        var writing = source.WriteAllAsync(writer, call.Token);
        source.OnNext(1);

        await call.CancelAsync();
        writer.EndCall();
        source.OnNext(2);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writing);
        Assert.Equal([1], writer.Written);
    }

    [Fact]
    public async Task A_failed_write_ends_the_stream_with_its_error()
    {
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: false);
        var source = new Subject<int>();
        var writing = source.WriteAllAsync(writer, CancellationToken.None);
        source.OnNext(1);
        source.OnNext(2);

        writer.Fail(new IOException("connection reset"));

        var error = await Assert.ThrowsAsync<IOException>(() => writing);
        Assert.Equal("connection reset", error.Message);
        Assert.Equal([1], writer.Started);
        await Eventually.TrueAsync(() => !source.HasObservers, "the source to be unsubscribed");
    }

    [Fact]
    public async Task A_source_error_ends_the_stream_with_that_error()
    {
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: true);
        var writing = Observable.Throw<int>(new InvalidOperationException("sealing failed")).WriteAllAsync(writer, CancellationToken.None);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => writing);
        Assert.Equal("sealing failed", error.Message);
    }

    [Fact]
    public async Task An_empty_source_completes_without_writing()
    {
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: true);

        await Observable.Empty<int>().WriteAllAsync(writer, CancellationToken.None);

        Assert.Empty(writer.Started);
    }

    [Fact]
    public async Task Concurrent_producers_never_overlap_two_writes_while_writes_complete_on_another_thread()
    {
        // Writes stay pending until a second thread completes them, at random moments: the queue's drain then runs on
        // that thread while four producers keep pushing, so a queue that let a second write start (or two drains run)
        // would be caught by the writer (it throws on a second pending write, and counts calls that overlap).
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: false);
        var source = Subject.Synchronize(new Subject<int>());
        var writing = source.WriteAllAsync(writer, CancellationToken.None);
        using var producing = new CancellationTokenSource();
        var completer = Task.Run(() =>
        {
            var random = new Random(20261127);
            while (!writing.IsCompleted)
            {
                if (writer.HasPendingWrite)
                {
                    for (var spin = random.Next(0, 200); spin > 0; spin--)
                    {
                        Thread.SpinWait(1);
                    }

                    writer.CompletePending();
                }
                else
                {
                    Thread.Yield();
                }
            }
        });

        await Task.WhenAll(Enumerable.Range(0, 4).Select(producer => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
            {
                source.OnNext((producer * 1000) + i);
            }
        })));
        source.OnCompleted();

        await writing.WaitAsync(TimeSpan.FromSeconds(30));
        await completer;
        Assert.Equal(0, writer.Overlaps);
        Assert.Equal(2000, writer.Written.Count);
        Assert.Equal(2000, writer.Started.Count);
        for (var producer = 0; producer < 4; producer++)
        {
            var own = writer.Written.Where(value => value / 1000 == producer).ToList();
            Assert.Equal(own.Order(), own);
        }
    }

    [Fact]
    public async Task Skippable_items_are_dropped_while_a_write_is_pending_so_at_most_one_is_ever_queued()
    {
        var writer = new ScriptedStreamWriter<string>(completeAtOnce: false);
        var source = new Subject<string>();
        var skipped = new List<string>();
        var policy = new StreamWritePolicy<string> { SkipWhileBusy = item => item.StartsWith("heartbeat", StringComparison.Ordinal), Skipped = skipped.Add };
        var writing = source.WriteAllAsync(writer, policy, CancellationToken.None);

        source.OnNext("heartbeat 1");   // nothing pending: written
        source.OnNext("heartbeat 2");   // a write is pending: dropped
        source.OnNext("job 1");         // never dropped: waits
        source.OnNext("heartbeat 3");   // dropped
        for (var i = 4; i < 1000; i++)
        {
            source.OnNext($"heartbeat {i}");
        }

        Assert.Equal(["heartbeat 1"], writer.Started);
        Assert.Equal(998, skipped.Count);
        Assert.DoesNotContain("heartbeat 1", skipped);

        writer.CompletePending();
        await Eventually.TrueAsync(() => writer.Started.Count == 2, "the job's write to start");
        writer.CompletePending();
        await Eventually.TrueAsync(() => !writer.HasPendingWrite && writer.Written.Count == 2, "the job to be written");

        // Idle again: the next heartbeat goes out.
        source.OnNext("heartbeat 1000");
        writer.CompletePending();
        source.OnCompleted();
        await writing;
        Assert.Equal(["heartbeat 1", "job 1", "heartbeat 1000"], writer.Written);
    }

    [Fact]
    public async Task A_write_pending_past_its_limit_is_cancelled_and_ends_the_stream_as_stuck()
    {
        var clock = new TestScheduler();
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: false);
        var source = new Subject<int>();
        var policy = new StreamWritePolicy<int> { StuckWriteTimeout = TimeSpan.FromSeconds(30), Scheduler = clock };
        var writing = source.WriteAllAsync(writer, policy, CancellationToken.None);
        source.OnNext(1);
        source.OnNext(2);

        clock.AdvanceTo(VirtualTime.Seconds(30) - 1);
        Assert.True(writer.HasPendingWrite, "one tick before the limit the write still waits");
        Assert.False(writing.IsCompleted);

        clock.AdvanceTo(VirtualTime.Seconds(30));

        var error = await Assert.ThrowsAsync<StuckWriteException>(() => writing);
        Assert.Equal(TimeSpan.FromSeconds(30), error.Limit);
        Assert.IsAssignableFrom<OperationCanceledException>(error.InnerException);
        Assert.False(writer.HasPendingWrite);
        Assert.Equal([1], writer.Started);
        await Eventually.TrueAsync(() => !source.HasObservers, "the source to be unsubscribed");
    }

    [Fact]
    public async Task Each_write_gets_its_own_limit_counted_from_its_start()
    {
        var clock = new TestScheduler();
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: false);
        var source = new Subject<int>();
        var policy = new StreamWritePolicy<int> { StuckWriteTimeout = TimeSpan.FromSeconds(30), Scheduler = clock };
        var writing = source.WriteAllAsync(writer, policy, CancellationToken.None);
        source.OnNext(1);
        source.OnNext(2);

        // The first write takes 20 s; the second starts then and may take until 50 s.
        clock.AdvanceTo(VirtualTime.Seconds(20));
        writer.CompletePending();
        await Eventually.TrueAsync(() => writer.Started.Count == 2, "the second write to start");
        clock.AdvanceTo(VirtualTime.Seconds(49));
        Assert.False(writing.IsCompleted, "the second write is within its own 30 s");
        writer.CompletePending();
        source.OnCompleted();

        await writing;
        clock.AdvanceTo(VirtualTime.Seconds(120));
        Assert.Equal([1, 2], writer.Written);
    }
}
