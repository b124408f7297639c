using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// The served model's one door: batches and other model work (embeddings, attentions) take turns through it,
/// since each already uses every core. It owns the task queues, so that disposing it — after the web server has
/// drained its requests — finishes every queued job before the model goes.
/// </summary>
internal sealed class ModelGate : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<IAsyncDisposable> _queues = [];
    private volatile bool _closed;

    /// <summary>Called when a batch has been taken, before it runs; tests hold a batch here to stop the server under it.</summary>
    internal Func<Task>? BeforeBatch { get; set; }

    /// <summary>Takes the model for a batch (then <see cref="Exit"/>).</summary>
    public async Task EnterBatchAsync()
    {
        await _gate.WaitAsync();
        if (BeforeBatch is { } hold) await hold();
    }

    /// <summary>Gives the model back.</summary>
    public void Exit() => _gate.Release();

    /// <summary>Runs other model work in turn with the batches.</summary>
    public async Task<T> RunExclusiveAsync<T>(Func<T> work)
    {
        if (_closed) throw ShuttingDown();
        await _gate.WaitAsync();
        try { return await Task.Run(work); }
        finally { _gate.Release(); }
    }

    /// <summary>A queue whose jobs must finish before the model goes.</summary>
    public void Own(IAsyncDisposable queue) => _queues.Add(queue);

    public static ApiException ShuttingDown() =>
        new(StatusCodes.Status503ServiceUnavailable, "shutting_down", "the server is shutting down; retry on another instance");

    public async ValueTask DisposeAsync()
    {
        _closed = true;
        foreach (var q in _queues) await q.DisposeAsync();
        _gate.Dispose();
    }
}
