using System.Diagnostics;
using System.Threading.Channels;
using BertSharp.Inference;
using Microsoft.AspNetCore.Http;
using Encoding = BertSharp.Text.Encoding;

namespace BertSharp.Server;

/// <summary>
/// Dynamic batching: requests put their tokenized texts on a queue; one loop takes what is waiting
/// (up to the max batch, waiting at most the max wait for more once it has one) and runs it through
/// the model in one go, so that concurrent single-text requests share a forward pass. The model runs
/// one batch at a time (it already uses every core), and the other model work (embeddings,
/// attentions) takes turns with it through the same gate.
/// </summary>
internal sealed class InferenceQueue : IAsyncDisposable
{
    private sealed record Job(IReadOnlyList<Encoding> Encodings, TaskCompletionSource<float[]> Done, CancellationToken Abandoned);

    private readonly TextClassifier _classifier;
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly Channel<Job> _channel = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Task _loop;
    private int _pending;
    private volatile bool _closed;

    public InferenceQueue(TextClassifier classifier, ServerOptions options, ServerMetrics metrics)
    {
        _classifier = classifier;
        _options = options;
        _metrics = metrics;
        metrics.QueueLength = () => Volatile.Read(ref _pending);
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Called when a batch has been taken, before it runs; tests hold a batch here to stop the server under it.</summary>
    internal Func<Task>? BeforeBatch { get; set; }

    /// <summary>Probabilities [texts × labels] for the encodings, computed with whatever else is waiting.</summary>
    /// <param name="encodings">The texts to classify.</param>
    /// <param name="abandoned">Signalled when the client has gone: a job still waiting is then dropped, not computed.</param>
    public Task<float[]> ClassifyAsync(IReadOnlyList<Encoding> encodings, CancellationToken abandoned = default)
    {
        if (_closed) throw ShuttingDown();
        int n = encodings.Count;
        if (Interlocked.Add(ref _pending, n) > _options.QueueLimit)
        {
            Interlocked.Add(ref _pending, -n);
            throw new ApiException(StatusCodes.Status503ServiceUnavailable, "queue_full",
                $"the server is at capacity ({_options.QueueLimit} texts waiting); retry shortly");
        }
        var job = new Job(encodings, new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously), abandoned);
        if (!_channel.Writer.TryWrite(job))
        {
            Interlocked.Add(ref _pending, -n);
            throw ShuttingDown();
        }
        return job.Done.Task;
    }

    /// <summary>Runs other model work in turn with the batches.</summary>
    public async Task<T> RunExclusiveAsync<T>(Func<T> work)
    {
        if (_closed) throw ShuttingDown();
        await _gate.WaitAsync();
        try { return await Task.Run(work); }
        finally { _gate.Release(); }
    }

    private async Task LoopAsync()
    {
        var reader = _channel.Reader;
        var batch = new List<Job>();
        var encodings = new List<Encoding>();
        while (await reader.WaitToReadAsync())
        {
            int texts = Take(reader, batch, 0);
            if (texts < _options.MaxBatchSize && _options.MaxBatchWait > TimeSpan.Zero)
                texts = await WaitForMoreAsync(reader, batch, texts);
            Interlocked.Add(ref _pending, -texts);
            if (batch.Count == 0) continue; // every job taken had been abandoned

            await _gate.WaitAsync();
            try
            {
                if (BeforeBatch is { } hold) await hold();
                encodings.Clear();
                foreach (var job in batch) encodings.AddRange(job.Encodings);
                var started = Stopwatch.GetTimestamp();
                var probabilities = _classifier.Probabilities(encodings, _options.MaxBatchSize);
                _metrics.BatchSeconds.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
                _metrics.BatchSize.Observe(texts);
                _metrics.TextsClassified(texts);
                int k = _classifier.Labels.Count, offset = 0;
                foreach (var job in batch)
                {
                    int length = job.Encodings.Count * k;
                    job.Done.SetResult(probabilities.AsSpan(offset, length).ToArray());
                    offset += length;
                }
            }
            catch (Exception) when (batch.Count > 1)
            {
                // One request the model cannot run must not fail the others batched with it: each
                // runs alone and gets its own answer or error.
                foreach (var job in batch)
                {
                    try { job.Done.TrySetResult(_classifier.Probabilities(job.Encodings, _options.MaxBatchSize)); }
                    catch (Exception e) { job.Done.TrySetException(e); }
                }
            }
            catch (Exception e)
            {
                batch[0].Done.TrySetException(e);
            }
            finally
            {
                _gate.Release();
                batch.Clear();
            }
        }
    }

    // Takes waiting jobs while they fit in the batch; a first job larger than the batch is taken whole.
    private int Take(ChannelReader<Job> reader, List<Job> batch, int texts)
    {
        while (reader.TryPeek(out var next) && (texts == 0 || texts + next.Encodings.Count <= _options.MaxBatchSize) && reader.TryRead(out next))
        {
            if (next.Abandoned.IsCancellationRequested)
            {
                // Its client has gone: computing it would only delay the requests behind it.
                Interlocked.Add(ref _pending, -next.Encodings.Count);
                next.Done.TrySetCanceled(next.Abandoned);
                continue;
            }
            batch.Add(next);
            texts += next.Encodings.Count;
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

    private static ApiException ShuttingDown() =>
        new(StatusCodes.Status503ServiceUnavailable, "shutting_down", "the server is shutting down; retry on another instance");

    /// <summary>Finishes every queued job, then stops the loop: called after the web server has drained its requests.</summary>
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        _channel.Writer.TryComplete();
        await _loop;
        _gate.Dispose();
    }
}
