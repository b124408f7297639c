using BertSharp.Server;

namespace BertSharp.Tests.Server;

/// <summary>A model gate whose first batch waits until released, so that the requests sent meanwhile queue up behind it.</summary>
internal static class HeldGate
{
    /// <returns>The gate; Hold, completed to let the first batch run; Held, completed once the first batch is waiting.</returns>
    public static (ModelGate Gate, TaskCompletionSource Hold, Task Held) Create()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new ModelGate();
        bool first = true;
        gate.BeforeBatch = () =>
        {
            if (!first) return Task.CompletedTask;
            first = false;
            held.SetResult();
            return hold.Task;
        };
        return (gate, hold, held.Task);
    }
}

/// <summary>Opens a held batch when disposed: declared after the server or gate, it goes first, so a failed test does
/// not leave disposal waiting for a batch that is never let go.</summary>
internal sealed class Release(TaskCompletionSource hold) : IAsyncDisposable
{
    public ValueTask DisposeAsync()
    {
        hold.TrySetResult();
        return ValueTask.CompletedTask;
    }
}
