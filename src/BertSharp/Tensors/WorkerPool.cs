using System.Runtime.ExceptionServices;

namespace BertSharp.Tensors;

/// <summary>
/// A fixed set of background threads (cores − 1) for the tensor layer's fork/join loops: the
/// calling thread works too, tasks are handed out by an atomic counter, and a call allocates
/// nothing. One loop runs at a time; a loop started while another runs (another thread, or a
/// nested loop inside a task) runs serially on its caller, so threads never oversubscribe.
/// </summary>
internal static class WorkerPool
{
    private static readonly SemaphoreSlim Wake = new(0);
    private static readonly ManualResetEventSlim Done = new(false);
    private static readonly int WorkerCount = Environment.ProcessorCount - 1;
    private static int busy;
    private static Action<int>? job;
    private static int jobCount, next, pending;
    private static Exception? error;
    [ThreadStatic] private static bool isWorker, inLoop;

    /// <summary>Whether the calling thread is running a task of a loop (so anything it starts runs serially).</summary>
    public static bool InLoop => isWorker || inLoop;

    static WorkerPool()
    {
        for (int i = 0; i < WorkerCount; i++)
            new Thread(WorkerLoop) { IsBackground = true, Name = "BertSharp tensor worker " + i }.Start();
    }

    /// <summary>Runs body(0 … count−1) on up to maxThreads threads (the caller included).</summary>
    public static void For(int count, int maxThreads, Action<int> body)
    {
        int helpers = Math.Min(Math.Min(maxThreads, count) - 1, WorkerCount);
        bool outer = !inLoop;
        if (helpers <= 0 || isWorker || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            inLoop = true;
            try
            {
                for (int i = 0; i < count; i++) body(i);
            }
            finally
            {
                if (outer) inLoop = false;
            }
            return;
        }
        inLoop = true;
        try
        {
            job = body;
            jobCount = count;
            next = 0;
            error = null;
            pending = helpers;
            Done.Reset();
            Wake.Release(helpers);
            Work();
            // Every woken helper checks in, so none still reads this job when the next one starts.
            Done.Wait();
            if (error is not null) ExceptionDispatchInfo.Throw(error);
        }
        finally
        {
            inLoop = false;
            job = null;
            Volatile.Write(ref busy, 0);
        }
    }

    private static void Work()
    {
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < jobCount) job!(i);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref error, e, null);
            Volatile.Write(ref next, jobCount);
        }
    }

    private static void WorkerLoop()
    {
        isWorker = true;
        while (true)
        {
            Wake.Wait();
            Work();
            if (Interlocked.Decrement(ref pending) == 0) Done.Set();
        }
    }
}
