using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

/// <summary>Runs alone: it counts the process's huge-page chunks, which other tests' weights also take.</summary>
[Collection(GemmSettingsCollection.Name)]
public unsafe class HugePagesTests
{
    [Fact]
    public void BlocksAreAlignedApartAndWritableAndTheirChunksAreUnmappedOnceCollected()
    {
        Assert.Null(HugePages.Rent(HugePages.MinBlockBytes - 1));
        if (!OperatingSystem.IsLinux()) return;
        int before = HugePages.LiveChunks;
        // Three shared-chunk blocks and two large enough for a chunk of their own.
        long[] sizes = [300 << 10, 1 << 20, 3 << 20, 9 << 20, 20 << 20];
        Rent(sizes, out int during);
        Assert.True(during >= 2, $"{during} chunks mapped while two blocks had chunks of their own");
        // The chunk shared blocks come from stays mapped for the next ones; the others must go.
        for (int i = 0; i < 3 && HugePages.LiveChunks > before + 1; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.True(HugePages.LiveChunks <= before + 1, $"{HugePages.LiveChunks} chunks mapped after the blocks were collected, {before} before");
    }

    // Not inlined, so that the blocks are unreachable once it returns.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void Rent(long[] sizes, out int liveChunks)
    {
        var blocks = sizes.Select(s => HugePages.Rent(s)!).ToArray();
        for (int i = 0; i < blocks.Length; i++)
        {
            long start = (long)blocks[i].Pointer;
            Assert.Equal(0, start % 64);
            // Written end to end (a fault here would crash the run), then no block may overlap another.
            new Span<byte>(blocks[i].Pointer, (int)Math.Min(sizes[i], int.MaxValue)).Fill((byte)(i + 1));
            for (int j = 0; j < i; j++)
            {
                long other = (long)blocks[j].Pointer;
                Assert.True(start >= other + sizes[j] || other >= start + sizes[i], $"blocks {j} and {i} overlap");
            }
        }
        for (int i = 0; i < blocks.Length; i++)
            Assert.Equal((byte)(i + 1), blocks[i].Pointer[sizes[i] - 1]);
        liveChunks = HugePages.LiveChunks;
    }
}
