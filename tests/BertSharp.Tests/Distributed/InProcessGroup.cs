using BertSharp.Distributed;

namespace BertSharp.Tests.Distributed;

/// <summary>
/// N communicators in one process, one per thread, whose collectives really combine the threads'
/// data (sum in rank order, copy from the root): a stand-in for an MPI job that needs no MPI, to test
/// code that runs on every rank.
/// </summary>
internal sealed class InProcessGroup
{
    private readonly Barrier _barrier;
    private readonly float[]?[] _floats;
    private readonly byte[]?[] _bytes;

    private InProcessGroup(int size)
    {
        _barrier = new Barrier(size);
        _floats = new float[size][];
        _bytes = new byte[size][];
        Members = [.. Enumerable.Range(0, size).Select(r => new Member(this, r))];
    }

    public IReadOnlyList<ICommunicator> Members { get; }

    /// <summary>Runs <paramref name="body"/> on every rank, each on its own thread, and returns what each returned.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body)
    {
        var group = new InProcessGroup(size);
        var results = new T[size];
        var threads = group.Members.Select((m, r) => new Thread(() => results[r] = body(m))).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(1)), "a rank hung");
        return results;
    }

    private sealed class Member(InProcessGroup group, int rank) : ICommunicator
    {
        public int Rank => rank;

        public int Size => group.Members.Count;

        public string Description => "in-process test group";

        public void AllreduceSum(Span<float> data)
        {
            group._floats[rank] = data.ToArray();
            group._barrier.SignalAndWait();
            for (int i = 0; i < data.Length; i++)
            {
                float sum = 0;
                foreach (var f in group._floats) sum += f![i];
                data[i] = sum;
            }
            group._barrier.SignalAndWait();
        }

        public void Broadcast(Span<byte> data, int root = 0)
        {
            if (rank == root) group._bytes[root] = data.ToArray();
            group._barrier.SignalAndWait();
            group._bytes[root]!.CopyTo(data);
            group._barrier.SignalAndWait();
        }

        public void Broadcast(Span<float> data, int root = 0)
        {
            if (rank == root) group._floats[root] = data.ToArray();
            group._barrier.SignalAndWait();
            group._floats[root]!.CopyTo(data);
            group._barrier.SignalAndWait();
        }

        public byte[][]? Gather(ReadOnlySpan<byte> data, int root = 0)
        {
            group._bytes[rank] = data.ToArray();
            group._barrier.SignalAndWait();
            var all = rank == root ? group._bytes.Select(b => b!).ToArray() : null;
            group._barrier.SignalAndWait();
            return all;
        }

        public void Barrier() => group._barrier.SignalAndWait();

        public void Abort(string message, int exitCode = 1) => throw new InvalidOperationException(message);

        public void Dispose() { }
    }
}
