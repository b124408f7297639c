using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// Dynamic batching for one task's batch function: requests put their items (tokenized texts) on a queue; one
/// loop takes what is waiting (up to the max batch; while requests overlap, waiting at most the max wait for more
/// once it has one) and runs it through the model in one go, so that concurrent single-text requests share a
/// forward pass. Batches take turns with the model's other work through the <see cref="ModelGate"/>.
/// </summary>
/// <typeparam name="TItem">What a request sends per text (an encoding).</typeparam>
/// <typeparam name="TResult">What it gets back per text (a row of scores).</typeparam>
internal sealed class BatchQueue<TItem, TResult> : IAsyncDisposable
{
    private sealed record Job(IReadOnlyList<TItem> Items, TaskCompletionSource<TResult[]> Done, CancellationToken Abandoned);

    private readonly Func<IReadOnlyList<TItem>, TResult[]> _runBatch;
    private readonly ModelGate _gate;
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly Channel<Job> _channel = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private int _pending;
    private volatile bool _closed;

    /// <param name="runBatch">The pipeline's batch function: one result per item, in order.</param>
    /// <param name="gate">The model's gate, shared by every queue and endpoint of one server.</param>
    /// <param name="options">Batch size, wait and queue limit.</param>
    /// <param name="metrics">Where batch sizes and times are counted.</param>
    public BatchQueue(Func<IReadOnlyList<TItem>, TResult[]> runBatch, ModelGate gate, ServerOptions options, ServerMetrics metrics)
    {
        _runBatch = runBatch;
        _gate = gate;
        _options = options;
        _metrics = metrics;
        metrics.AddQueue(() => Volatile.Read(ref _pending));
        gate.Own(this);
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>The results for the items, computed with whatever else is waiting.</summary>
    /// <param name="items">The request's items.</param>
    /// <param name="abandoned">Signalled when the client has gone: a job still waiting is then dropped, not computed.</param>
    public Task<TResult[]> RunAsync(IReadOnlyList<TItem> items, CancellationToken abandoned = default)
    {
        if (_closed) throw ModelGate.ShuttingDown();
        int n = items.Count;
        if (Interlocked.Add(ref _pending, n) > _options.QueueLimit)
        {
            Interlocked.Add(ref _pending, -n);
            throw new ApiException(StatusCodes.Status503ServiceUnavailable, "queue_full",
                $"the server is at capacity ({_options.QueueLimit} texts waiting); retry shortly");
        }
        var job = new Job(items, new TaskCompletionSource<TResult[]>(TaskCreationOptions.RunContinuationsAsynchronously), abandoned);
        if (!_channel.Writer.TryWrite(job))
        {
            Interlocked.Add(ref _pending, -n);
            throw ModelGate.ShuttingDown();
        }
        return job.Done.Task;
    }

    private async Task LoopAsync()
    {
        var reader = _channel.Reader;
        var batch = new List<Job>();
        var items = new List<TItem>();
        // Whether requests are arriving together: the last batch held several, or more came while it ran.
        // Only then is waiting for company worth it; a lone request (one client, a quiet server) runs at
        // once instead of paying the wait on every call.
        bool overlapping = false;
        while (await reader.WaitToReadAsync())
        {
            int texts = Take(reader, batch, 0);
            if (overlapping && texts < _options.MaxBatchSize && _options.MaxBatchWait > TimeSpan.Zero)
                texts = await WaitForMoreAsync(reader, batch, texts);
            Interlocked.Add(ref _pending, -texts);
            if (batch.Count == 0) continue; // every job taken had been abandoned

            await _gate.EnterBatchAsync();
            try
            {
                items.Clear();
                foreach (var job in batch) items.AddRange(job.Items);
                var started = Stopwatch.GetTimestamp();
                var results = _runBatch(items);
                _metrics.BatchRan(texts, Stopwatch.GetElapsedTime(started).TotalSeconds);
                int offset = 0;
                foreach (var job in batch)
                {
                    job.Done.SetResult(results.AsSpan(offset, job.Items.Count).ToArray());
                    offset += job.Items.Count;
                }
            }
            catch (Exception) when (batch.Count > 1)
            {
                // One request the model cannot run must not fail the others batched with it: each
                // runs alone and gets its own answer or error.
                foreach (var job in batch)
                {
                    try { job.Done.TrySetResult(_runBatch(job.Items)); }
                    catch (Exception e) { job.Done.TrySetException(e); }
                }
            }
            catch (Exception e)
            {
                batch[0].Done.TrySetException(e);
            }
            finally
            {
                _gate.Exit();
                overlapping = batch.Count > 1 || reader.TryPeek(out _);
                batch.Clear();
            }
        }
    }

    // Takes waiting jobs while they fit in the batch; a first job larger than the batch is taken whole.
    private int Take(ChannelReader<Job> reader, List<Job> batch, int texts)
    {
        while (reader.TryPeek(out var next) && (texts == 0 || texts + next.Items.Count <= _options.MaxBatchSize) && reader.TryRead(out next))
        {
            if (next.Abandoned.IsCancellationRequested)
            {
                // Its client has gone: computing it would only delay the requests behind it.
                Interlocked.Add(ref _pending, -next.Items.Count);
                next.Done.TrySetCanceled(next.Abandoned);
                continue;
            }
            batch.Add(next);
            texts += next.Items.Count;
        }
        return texts;
    }

    private async Task<int> WaitForMoreAsync(ChannelReader<Job> reader, List<Job> batch, int texts)
    {
        using var timeout = new CancellationTokenSource(_options.MaxBatchWait);
        while (texts < _options.MaxBatchSize && !timeout.IsCancellationRequested)
        {
            try
            {
                if (!await reader.WaitToReadAsync(timeout.Token)) break;
            }
            catch (OperationCanceledException)
            {
                break;
            }
            int before = texts;
            texts = Take(reader, batch, texts);
            if (texts == before) break; // the next job does not fit: run what we have
        }
        return texts;
    }

    /// <summary>Finishes every queued job, then stops the loop: called (by the gate) after the web server has drained its requests.</summary>
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        _channel.Writer.TryComplete();
        await _loop;
    }
}
