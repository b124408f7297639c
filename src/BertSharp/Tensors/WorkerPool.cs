using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace BertSharp.Tensors;

/// <summary>
/// A fixed set of background threads (cores − 1) for the tensor layer's fork/join loops: the
/// calling thread works too, tasks are handed out by an atomic counter, and a call allocates
/// nothing. One loop runs at a time; a loop started while another runs (another thread, or a
/// nested loop inside a task) runs serially on its caller, so threads never oversubscribe.
/// </summary>
/// <remarks>
/// <para>A forward pass opens dozens of loops back to back, and a served client sends its next
/// request a fraction of a millisecond after the last answer, so a helper that finishes a loop spins
/// for <see cref="SpinTicks"/> waiting for the next before it blocks (a blocked helper takes tens of
/// microseconds to wake, longer on a busy machine).</para>
/// <para>The caller never waits for a helper that has not started: helpers join a loop only while
/// it is open, the caller takes every task nobody has claimed, then closes the loop and waits
/// only for helpers already inside a task. A helper descheduled by other processes (a shared
/// CPU) therefore delays a loop by at most the one task it holds, not by its whole time slice.</para>
/// <para>On a CPU shared with busy processes even that is too much for small loops, and waking a
/// helper gets the caller itself descheduled: a 1 × 16-token forward pass took twice as long on
/// two threads as on one. The pool notices (NoteWaiting) and the cost model then keeps all but
/// long loops on the caller until the contention passes, while an inference pass of several
/// sequences splits them over the threads instead (BertModel.SequenceChunks).</para>
/// </remarks>
internal static class WorkerPool
{
    // A quiet machine's helper spins 1 ms: long enough to stay on its core across one client's gap between
    // two requests (0.3–0.5 ms over loopback). With 100 µs it slept between requests, and one client's
    // passes in the server ran at 0.99× ONNX Runtime's speed (whose workers spin for some 20 ms); with 1 ms,
    // at 1.11× (same runs, `serve-load`, docs/BENCHMARKS.md). Called in-process without a server, passes
    // time alike with either spin, so the wake-up alone is not what costs; likely the sleeping helper's
    // core is taken by the server's threads as a pass begins (not traced). While the CPU is contended a
    // spinning helper takes a core from busy threads, our caller among them, so it spins only across the
    // serial gaps between two loops of a pass (layer norms, products on the caller).
    private static readonly long SpinTicks = Stopwatch.Frequency / 1000, ContendedSpinTicks = Stopwatch.Frequency / 10_000;

    // How long a loop's caller spins on its helpers before it yields (AwaitHelpers).
    private static readonly long JoinSpinTicks = Stopwatch.Frequency / 1000;

    // While contended a thread's share must be this many grains: a helper descheduled mid-task
    // holds its loop for up to a time slice (milliseconds), which only a long share repays.
    private const long ContendedGrains = 512;

    // NoteWaiting looks at most every LookTicks; contention seen holds for holdTicks, MinHoldTicks when
    // seen alone, doubling up to MaxHoldTicks while seen again within the hold.
    // Waits count only between looks at most GapTicks apart: within a stretch of tensor work, not
    // in between, where a server's thread may have waited for cores our own loops were using.
    // A hold that runs, or ended within LatelyTicks, makes one look enough to start or extend the next (SeesContention).
    private static readonly long LookTicks = Stopwatch.Frequency / 500, GapTicks = Stopwatch.Frequency / 100, MinHoldTicks = Stopwatch.Frequency / 20, MaxHoldTicks = Stopwatch.Frequency;
    private static readonly long LatelyTicks = Stopwatch.Frequency;

    // A caller that waited for a CPU this long since its last look (under GapTicks ago: a fifth of the
    // time at least) lost a time slice to another thread: beside busy threads a lost look waits
    // 3.5–4 ms (a scheduler tick at 250 Hz), while a quiet one-client server's looks waited up to
    // 1.5 ms behind its own runtime's threads (HTTP work, thread-pool workers woken and spinning)
    // and, at 1 ms, went serial every few dozen passes.
    private const long MinWaitNanoseconds = 2_000_000;

    // The pool counts as contended until this timestamp (see NoteWaiting); written by loops' callers.
    private static long contendedUntil, holdTicks;

    // The calling thread's schedstat at its last look, and when it looked; its looks in a row that saw it wait (SeesContention).
    [ThreadStatic] private static long lastWaiting, lastLook;
    [ThreadStatic] private static int strikes;

    private static readonly Helper[] Helpers;
    private static int busy;
    private static Action<int>? job;
    private static int jobCount, next;

    // Odd while a loop is open to helpers, even once the caller has closed it; each loop adds 2.
    private static int generation;

    // Helpers allowed to join the open loop (counts down), and helpers inside it now.
    private static int seats, active;
    private static Exception? error;
    [ThreadStatic] private static bool isWorker, inLoop;

    /// <summary>Whether the calling thread is running a task of a loop (so anything it starts runs serially).</summary>
    public static bool InLoop => isWorker || inLoop;

    static WorkerPool()
    {
        Helpers = new Helper[Environment.ProcessorCount - 1];
        for (int i = 0; i < Helpers.Length; i++)
        {
            var h = Helpers[i] = new Helper();
            new Thread(() => HelperLoop(h)) { IsBackground = true, Name = "BertSharp tensor worker " + i }.Start();
        }
    }

    /// <summary>
    /// The cost model: how many threads (1 … <see cref="Gemm.MaxThreads"/>) a loop of `work` units
    /// should use when a thread's share must be at least `grain` units to pay for its hand-off.
    /// Below two grains the loop runs on the caller alone.
    /// </summary>
    public static int Threads(long work, long grain) => work < 2 * Math.Max(1, grain) ? 1 : Threads(work, grain, Contended);

    /// <summary>The cost model when the CPU is (or is not) <see cref="Contended"/>: then a share must be <see cref="ContendedGrains"/> grains.</summary>
    internal static int Threads(long work, long grain, bool contended) =>
        (int)Math.Clamp(work / (Math.Max(1, grain) * (contended ? ContendedGrains : 1)), 1, Gemm.MaxThreads);

    /// <summary>Whether other work holds the cores: recent loops' callers waited for a CPU (see NoteWaiting).</summary>
    public static bool Contended
    {
        get
        {
            if (ContendedOverride is bool held) return held;
            if (!InLoop) NoteWaiting();
            return Stopwatch.GetTimestamp() < Volatile.Read(ref contendedUntil);
        }
    }

    /// <summary>Tests: what <see cref="Contended"/> says whatever the CPU does (null: what it sees).</summary>
    internal static bool? ContendedOverride { get; set; }

    /// <summary>
    /// Marks the start of a stretch of tensor work on the calling thread (a forward pass): whether the
    /// CPU is contended is then judged from the waits inside it. A server's thread starts a pass a
    /// millisecond or two after its last one, and what it waited for between them (the HTTP work of
    /// the request, runtime threads waking together) said nothing about the pass: one client's
    /// requests were judged contended every few passes and ran serially.
    /// </summary>
    public static void NoteStart()
    {
        if (InLoop || !ThreadSchedStat.TryRead(out _, out long waiting)) return;
        (lastWaiting, lastLook) = (waiting, Stopwatch.GetTimestamp());
    }

    // A caller about to choose its threads asks the kernel (every LookTicks at most; a read of a few
    // microseconds) how long it has waited for a CPU while runnable. Waking a helper on a busy CPU
    // gets the caller itself descheduled; loops then keep to the caller until a hold passes without
    // such a wait. A busy CPU lets a short pass run untouched now and then, so the hold grows while
    // the waits recur (a hold of 50 ms let 1 × 16-token passes go parallel again between them, and two
    // of three runs were back at half speed); a quiet machine's rare lost slice costs nothing (see
    // SeesContention).
    private static void NoteWaiting()
    {
        long now = Stopwatch.GetTimestamp();
        if (now - lastLook < LookTicks || !ThreadSchedStat.TryRead(out _, out long waiting)) return;
        long until = Volatile.Read(ref contendedUntil);
        if (SeesContention(ref strikes, now - lastLook, waiting - lastWaiting, seenLately: now - until < LatelyTicks))
        {
            holdTicks = now < until ? Math.Min(2 * holdTicks, MaxHoldTicks) : MinHoldTicks;
            Volatile.Write(ref contendedUntil, Math.Max(until, now + holdTicks));
        }
        (lastWaiting, lastLook) = (waiting, now);
    }

    /// <summary>
    /// Whether a look <paramref name="elapsedTicks"/> after the thread's last one, over which it waited
    /// <paramref name="waitedNs"/> for a CPU, shows other work holding the cores: it lost the CPU for a
    /// time slice (over 2 ms), and so did the look before (<paramref name="strikes"/> counts such looks
    /// in a row). One lost slice alone is the JIT's background compiler or a daemon passing by: with a
    /// server's thread judged on single looks, one client's passes ran serially half the time on a
    /// machine with nothing else to run. Unless contention was <paramref name="seenLately"/> (a hold
    /// runs, or ended under a second ago): then one look suffices. Beside busy threads a pass loses its CPU for a whole scheduler tick (4 ms) once or not
    /// at all, so two looks in a row rarely both saw it; 1 × 16-token passes went parallel again between
    /// holds, and two threads ran at 0.94–0.97 of one (1.0 with one look enough; same-run, 1,000 passes).
    /// </summary>
    /// <remarks>Only the wait counts, not its share of the thread's running time: the kernel adds a running
    /// thread's time on the CPU to its schedstat only at ticks and switches, so over a 2–3 ms look the
    /// running time read was anything from 0.1 to 8 ms, while a wait is added whole when the thread gets
    /// the CPU back.</remarks>
    internal static bool SeesContention(ref int strikes, long elapsedTicks, long waitedNs, bool seenLately = false)
    {
        bool lost = elapsedTicks < GapTicks && waitedNs > MinWaitNanoseconds;
        strikes = lost ? strikes + 1 : 0;
        return strikes >= (seenLately ? 1 : 2);
    }

    /// <summary>
    /// Runs body(0 … count−1) on up to maxThreads threads (the caller included): take maxThreads
    /// from <see cref="Threads(long, long)"/>, which knows whether the CPU is contended.
    /// </summary>
    public static void For(int count, int maxThreads, Action<int> body)
    {
        // Every loop's caller looks, not only one that asks for threads: a pass whose layers each run as one
        // loop of fixed threads, or inside one task of a loop, asked for none and went on beside busy threads
        // as if the CPU were quiet. A helper's waits never count.
        if (!isWorker) NoteWaiting();
        int helpers = Math.Min(Math.Min(maxThreads, count) - 1, Helpers.Length);
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
        int open = generation + 1;
        try
        {
            job = body;
            jobCount = count;
            next = 0;
            error = null;
            seats = helpers;
            Volatile.Write(ref generation, open);
            for (int i = 0, woken = 0; i < Helpers.Length && woken < helpers; i++)
            {
                var h = Helpers[i];
                if (Volatile.Read(ref h.Sleeping) == 1 && Interlocked.Exchange(ref h.Sleeping, 0) == 1)
                {
                    h.Wake.Release();
                    woken++;
                }
            }
            Work();
        }
        finally
        {
            // Closed (a full fence) before reading active: a helper counts itself in before it checks
            // the generation, so one that missed the loop can no longer enter it.
            Interlocked.Exchange(ref generation, open + 1);
            AwaitHelpers();
            inLoop = false;
            job = null;
            Volatile.Write(ref busy, 0);
        }
        if (error is not null) ExceptionDispatchInfo.Throw(error);
    }

    // The caller's wait for helpers still inside a task. It spins without yielding for JoinSpinTicks first: beside busy
    // threads a yield hands the caller's CPU to one of them for the rest of its time slice (milliseconds), though a
    // helper that is running finishes its task within a task's length. Lone 64–256-token sequences beside two busy
    // threads ran 8–11 % faster on two threads than with SpinWait's yields after a few microseconds, with a 0.3, 1.5 or
    // 5 ms spin alike (docs/BENCHMARKS.md). Past it the helper has likely lost its CPU for a slice, and yielding lets
    // whatever shares the caller's CPU run, the helper perhaps among them.
    private static void AwaitHelpers()
    {
        long until = Stopwatch.GetTimestamp() + JoinSpinTicks;
        while (Volatile.Read(ref active) != 0 && Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
        var spin = new SpinWait();
        while (Volatile.Read(ref active) != 0) spin.SpinOnce(sleep1Threshold: -1);
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

    private static void HelperLoop(Helper h)
    {
        isWorker = true;
        int seen = 0;
        while (true)
        {
            int g = NextOpen(h, seen);
            seen = g;
            Interlocked.Increment(ref active);
            if (Volatile.Read(ref generation) == g && Interlocked.Decrement(ref seats) >= 0) Work();
            Interlocked.Decrement(ref active);
        }
    }

    // Spins for a while, then blocks, until a loop other than `seen` is open; returns its generation.
    private static int NextOpen(Helper h, int seen)
    {
        while (true)
        {
            // A helper is always InLoop, so Contended only reads the hold, never the schedstat.
            long until = Stopwatch.GetTimestamp() + (Contended ? ContendedSpinTicks : SpinTicks);
            do
            {
                int g = Volatile.Read(ref generation);
                if ((g & 1) == 1 && g != seen) return g;
                Thread.SpinWait(20);
            }
            while (Stopwatch.GetTimestamp() < until);
            // Announce the sleep, then look once more: a caller that opened a loop before seeing the
            // flag is caught by this check; one that opens after sees the flag and wakes us.
            Interlocked.Exchange(ref h.Sleeping, 1);
            int now = Volatile.Read(ref generation);
            if ((now & 1) == 1 && now != seen)
            {
                // If a caller took the flag meanwhile, its permit makes one later wait return early: harmless.
                Interlocked.Exchange(ref h.Sleeping, 0);
                return now;
            }
            h.Wake.Wait();
        }
    }

    private sealed class Helper
    {
        public readonly SemaphoreSlim Wake = new(0);
        public int Sleeping;
    }
}
