using System.Reactive.Linq;
using System.Reactive.Subjects;
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
    public async Task Concurrent_producers_never_overlap_two_writes()
    {
        var writer = new ScriptedStreamWriter<int>(completeAtOnce: true);
        var source = Subject.Synchronize(new Subject<int>());
        var writing = source.WriteAllAsync(writer, CancellationToken.None);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(producer => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
            {
                source.OnNext((producer * 1000) + i);
            }
        })));
        source.OnCompleted();

        await writing;
        Assert.Equal(0, writer.Overlaps);
        Assert.Equal(2000, writer.Written.Count);
        for (var producer = 0; producer < 4; producer++)
        {
            var own = writer.Written.Where(value => value / 1000 == producer).ToList();
            Assert.Equal(own.Order(), own);
        }
    }
}
