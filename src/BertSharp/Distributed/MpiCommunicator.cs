using System.Runtime.InteropServices;
using System.Text;

namespace BertSharp.Distributed;

/// <summary>
/// MPI_COMM_WORLD through a thin binding to the system's Open MPI (<c>libmpi.so.40</c>, Debian's
/// <c>libopenmpi3</c>): the handful of collectives data-parallel training needs, called through
/// function pointers looked up at run time, so nothing MPI is needed to build or to run without it.
/// </summary>
/// <remarks>
/// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) are the addresses of exported globals, so
/// they are found with the library's exports; MPICH's are integer constants with another ABI, which
/// is why a non-Open-MPI library is refused rather than misread. Errors are MPI's default
/// MPI_ERRORS_ARE_FATAL: a failing call ends the job rather than returning; and when a rank dies,
/// <c>mpirun</c> ends the others (the job exits non-zero instead of hanging in a collective).
/// </remarks>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    /// <summary>Set to a path or soname to load another Open MPI library than the system's.</summary>
    public const string LibraryVariable = "BERTSHARP_MPI_LIBRARY";

    private const int ThreadSerialized = 2; // MPI_THREAD_SERIALIZED in Open MPI's mpi.h
    private static readonly nint InPlace = 1; // MPI_IN_PLACE in Open MPI's mpi.h
    // MPI counts are ints; bigger spans go in pieces of this many elements.
    private const int MaxChunk = 1 << 30;

    private static MpiCommunicator? s_instance;
    private static readonly Lock s_create = new();

    private readonly Lock _lock = new();
    private readonly nint _world, _float, _byte, _int, _sum;
    private readonly delegate* unmanaged<nint, nint, int, nint, nint, nint, int> _allreduce;
    private readonly delegate* unmanaged<nint, int, nint, int, nint, int> _bcast;
    private readonly delegate* unmanaged<nint, int, nint, nint, int, nint, int, nint, int> _gather;
    private readonly delegate* unmanaged<nint, int, nint, nint, int*, int*, nint, int, nint, int> _gatherv;
    private readonly delegate* unmanaged<nint, int> _barrier;
    private readonly delegate* unmanaged<nint, int, int> _abort;
    private readonly delegate* unmanaged<int> _finalize;
    private bool _finalized;

    private MpiCommunicator(nint library, MpiEnvironment? environment)
    {
        nint Export(string name) => NativeLibrary.TryGetExport(library, name, out var address) ? address
            : throw new NotSupportedException($"the MPI library has no '{name}': BertSharp speaks Open MPI's ABI (Debian: apt-get install openmpi-bin); set {LibraryVariable} to an Open MPI libmpi");
        _world = Export("ompi_mpi_comm_world");
        _float = Export("ompi_mpi_float");
        _byte = Export("ompi_mpi_byte");
        _int = Export("ompi_mpi_int");
        _sum = Export("ompi_mpi_op_sum");
        _allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)Export("MPI_Allreduce");
        _bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Export("MPI_Bcast");
        _gather = (delegate* unmanaged<nint, int, nint, nint, int, nint, int, nint, int>)Export("MPI_Gather");
        _gatherv = (delegate* unmanaged<nint, int, nint, nint, int*, int*, nint, int, nint, int>)Export("MPI_Gatherv");
        _barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        _abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        var initThread = (delegate* unmanaged<int*, nint*, int, int*, int>)Export("MPI_Init_thread");
        var commRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        var commSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        var version = (delegate* unmanaged<byte*, int*, int>)Export("MPI_Get_library_version");

        int provided;
        Check(initThread(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
        // Calls come one at a time (the lock) but maybe from different threads: SERIALIZED is what that needs.
        if (provided < ThreadSerialized)
        {
            Abort($"the MPI library offers thread level {provided}; BertSharp needs MPI_THREAD_SERIALIZED ({ThreadSerialized})");
        }
        int rank, size;
        Check(commRank(_world, &rank), "MPI_Comm_rank");
        Check(commSize(_world, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        if (environment is not null && (environment.Rank != rank || environment.Size != size))
            Abort($"MPI says rank {rank} of {size} but the {environment.Launcher} environment says {environment.Rank} of {environment.Size}: was this process started by another launcher than the MPI it loaded?");

        var text = new byte[8192]; // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI; room to spare
        int length;
        fixed (byte* p = text) Check(version(p, &length), "MPI_Get_library_version");
        Description = Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, text.Length)).Split('\n')[0].TrimEnd('\0', ' ', ',');

        // An exception nobody catches would end this rank alone while the others wait in a collective.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            Abort($"unhandled exception: {(e.ExceptionObject as Exception)?.Message ?? e.ExceptionObject.ToString()}", 1);
    }

    /// <summary>The world communicator, MPI initialized on first use (MPI allows one initialization per process).</summary>
    /// <exception cref="NotSupportedException">No Open MPI library could be loaded.</exception>
    internal static MpiCommunicator Initialize(MpiEnvironment? environment)
    {
        lock (s_create)
        {
            if (s_instance is { _finalized: false }) return s_instance;
            if (s_instance is not null) throw new InvalidOperationException("MPI was finalized in this process and cannot start again");
            return s_instance = new MpiCommunicator(LoadLibrary(), environment);
        }
    }

    private static nint LoadLibrary()
    {
        string[] candidates = Environment.GetEnvironmentVariable(LibraryVariable) is { Length: > 0 } chosen
            ? [chosen]
            : ["libmpi.so.40", "libmpi.so"];
        foreach (var name in candidates)
        {
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        }
        throw new NotSupportedException($"could not load Open MPI ({string.Join(", ", candidates)}): install it (Debian: apt-get install openmpi-bin) or set {LibraryVariable}");
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public void AllreduceSum(Span<float> data)
    {
        lock (_lock)
        {
            ThrowIfFinalized();
            fixed (float* p = data)
            {
                for (int start = 0; start < data.Length; start += MaxChunk)
                    Check(_allreduce(InPlace, (nint)(p + start), Math.Min(MaxChunk, data.Length - start), _float, _sum, _world), "MPI_Allreduce");
            }
        }
    }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root = 0)
    {
        CheckRoot(root);
        lock (_lock)
        {
            ThrowIfFinalized();
            fixed (byte* p = data)
            {
                for (int start = 0; start < data.Length; start += MaxChunk)
                    Check(_bcast((nint)(p + start), Math.Min(MaxChunk, data.Length - start), _byte, root, _world), "MPI_Bcast");
            }
        }
    }

    /// <inheritdoc/>
    public void Broadcast(Span<float> data, int root = 0) => Broadcast(MemoryMarshal.AsBytes(data), root); // a broadcast copies bits: the byte path serves floats too

    /// <inheritdoc/>
    public byte[][]? Gather(ReadOnlySpan<byte> data, int root = 0)
    {
        CheckRoot(root);
        lock (_lock)
        {
            ThrowIfFinalized();
            int length = data.Length;
            var lengths = Rank == root ? new int[Size] : [];
            fixed (int* l = lengths)
                Check(_gather((nint)(&length), 1, _int, (nint)l, 1, _int, root, _world), "MPI_Gather");
            var offsets = new int[lengths.Length];
            long total = 0;
            for (int r = 0; r < lengths.Length; r++)
            {
                offsets[r] = (int)Math.Min(total, int.MaxValue);
                total += lengths[r];
            }
            // MPI_Gatherv's displacements are ints; the root learns the total only here, so it cannot just throw
            // (the others would wait in MPI_Gatherv): it ends the job with the reason.
            if (total > int.MaxValue) Abort($"gathering {total} bytes on rank {root}: more than MPI_Gatherv's 2 GiB; split the input");
            var all = new byte[total];
            fixed (byte* send = data)
            fixed (byte* receive = all)
            fixed (int* l = lengths)
            fixed (int* o = offsets)
                Check(_gatherv((nint)send, length, _byte, (nint)receive, l, o, _byte, root, _world), "MPI_Gatherv");
            if (Rank != root) return null;
            var parts = new byte[Size][];
            for (int r = 0; r < Size; r++) parts[r] = all.AsSpan(offsets[r], lengths[r]).ToArray();
            return parts;
        }
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        lock (_lock)
        {
            ThrowIfFinalized();
            Check(_barrier(_world), "MPI_Barrier");
        }
    }

    /// <inheritdoc/>
    public void Abort(string message, int exitCode = 1)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"bertsharp: rank {Rank} of {Size}: {message}; ending the job");
        Console.Error.Flush();
        // No lock: the reason to abort may be a collective stuck on another thread.
        _abort(_world, exitCode);
        Environment.Exit(exitCode); // MPI_Abort does not return; this covers a library that does
    }

    /// <summary>Finalizes MPI: a collective, so every rank must get here; on an error path call <see cref="Abort"/> instead.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_finalized) return;
            _finalized = true;
            Check(_finalize(), "MPI_Finalize");
        }
    }

    private void CheckRoot(int root) => ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)root, (uint)Size, nameof(root));

    private void ThrowIfFinalized() => ObjectDisposedException.ThrowIf(_finalized, this);

    // With MPI_ERRORS_ARE_FATAL a failing call never returns; this catches a handler someone changed.
    private static void Check(int code, string call)
    {
        if (code != 0) throw new InvalidOperationException($"{call} failed with MPI error {code}");
    }
}
