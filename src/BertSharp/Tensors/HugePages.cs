using System.Runtime.InteropServices;

namespace BertSharp.Tensors;

/// <summary>
/// Native memory for packed inference weights on Linux, in 2 MiB-aligned chunks that ask the kernel for
/// transparent huge pages (<c>madvise(MADV_HUGEPAGE)</c>, honoured in THP's default "madvise" mode as in
/// "always"). A pass over a short input reads each weight once, from memory: on 4 KiB pages every page
/// costs a TLB walk and restarts the hardware prefetcher, and a 1 × 16 pass took 12–18 % longer than on
/// 2 MiB pages (docs/BENCHMARKS.md, twelfth session). Weights share chunks (minilm-l6's 24 products
/// would waste 30 MB if each were rounded up to whole huge pages); a chunk is unmapped once every block
/// in it has been collected.
/// </summary>
internal static unsafe class HugePages
{
    private const long PageBytes = 2 << 20;
    private const long ChunkBytes = 16 * PageBytes;

    // Blocks below this stay on the managed heap: they would not fill a huge page of their own.
    internal const long MinBlockBytes = 256 << 10;

    private static readonly object Gate = new();
    private static Chunk? current;
    private static int unavailable;
    private static int liveChunks;

    /// <summary>Chunks mapped now (for tests).</summary>
    internal static int LiveChunks => Volatile.Read(ref liveChunks);

    /// <summary>A 64-byte aligned block of at least <paramref name="bytes"/>; null off Linux, below <see cref="MinBlockBytes"/>, or when mapping fails.</summary>
    public static Block? Rent(long bytes)
    {
        if (bytes < MinBlockBytes || !OperatingSystem.IsLinux() || Volatile.Read(ref unavailable) != 0) return null;
        bytes = (bytes + 63) & ~63L;
        lock (Gate)
        {
            if (bytes > ChunkBytes / 4)
            {
                // A large block gets a chunk of its own, unmapped with it.
                var own = Chunk.Map((bytes + PageBytes - 1) / PageBytes * PageBytes);
                var block = own?.Take(bytes);
                own?.Retire();
                return block;
            }
            if (current?.Take(bytes) is { } shared) return shared;
            current?.Retire();
            current = Chunk.Map(ChunkBytes);
            return current?.Take(bytes);
        }
    }

    /// <summary>A piece of a chunk; the chunk lives while any of its blocks does.</summary>
    internal sealed class Block(Chunk chunk, byte* pointer)
    {
        public byte* Pointer { get; } = pointer;

        ~Block() => chunk.Release();
    }

    internal sealed class Chunk
    {
        private readonly byte* _base;
        private readonly long _length;
        private long _used;
        private int _blocks;
        private bool _retired, _unmapped;

        private Chunk(byte* start, long length)
        {
            _base = start;
            _length = length;
        }

        // Maps length bytes at a 2 MiB boundary (over-mapping by a page, then trimming) and asks for huge pages.
        public static Chunk? Map(long length)
        {
            try
            {
                nint raw = mmap(0, (nuint)(length + PageBytes), ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
                if (raw == -1) return null;
                nint start = (nint)(((long)raw + PageBytes - 1) & ~(PageBytes - 1));
                if (start > raw) munmap(raw, (nuint)(start - raw));
                long tail = (long)raw + length + PageBytes - ((long)start + length);
                if (tail > 0) munmap(start + (nint)length, (nuint)tail);
                // Refused (a kernel without THP): the chunk is still ordinary memory.
                madvise(start, (nuint)length, MadvHugePage);
                // The GC must know: dead models' blocks are freed only when it collects them.
                GC.AddMemoryPressure(length);
                Interlocked.Increment(ref liveChunks);
                return new Chunk((byte*)start, length);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                Interlocked.Exchange(ref unavailable, 1);
                return null;
            }
        }

        public Block? Take(long bytes)
        {
            if (_used + bytes > _length) return null;
            var block = new Block(this, _base + _used);
            _used += bytes;
            Interlocked.Increment(ref _blocks);
            return block;
        }

        // No more blocks come from a retired chunk, so its last release unmaps it. Called under Gate.
        public void Retire()
        {
            _retired = true;
            if (Volatile.Read(ref _blocks) == 0) Unmap();
        }

        public void Release()
        {
            if (Interlocked.Decrement(ref _blocks) != 0) return;
            lock (Gate)
            {
                if (_retired) Unmap();
            }
        }

        // Under Gate: a release racing Retire must not unmap twice.
        private void Unmap()
        {
            if (_unmapped) return;
            _unmapped = true;
            if (munmap((nint)_base, (nuint)_length) != 0) return;
            GC.RemoveMemoryPressure(_length);
            Interlocked.Decrement(ref liveChunks);
        }
    }

    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20, MadvHugePage = 14;

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint address, nuint length);

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);
}
