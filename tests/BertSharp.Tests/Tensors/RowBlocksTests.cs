using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

public class RowBlocksTests
{
    [Theory]
    [InlineData(1024, 12, 192, 2, 6)]  // the 8 × 128 projection: six blocks of 168–180 rows, not 5 × 192 + 64
    [InlineData(2048, 12, 192, 2, 12)] // eleven blocks' worth, rounded up to whole rounds for two threads
    [InlineData(1024, 12, 96, 2, 12)]  // the layer tail's blocks: 1024 rows as 12, not 10 × 96 + 64
    [InlineData(1500, 12, 96, 1, 16)]  // one thread: only the heights even out
    [InlineData(30, 12, 192, 4, 3)]    // never more blocks than strips
    [InlineData(0, 12, 192, 2, 1)]
    public void BlocksCoverTheRowsInWholeStripsOfEvenHeight(int rows, int strip, int maxRows, int threads, int count)
    {
        var blocks = RowBlocks.Balanced(rows, strip, maxRows, threads);
        Assert.Equal(count, blocks.Count);
        int next = 0, tallest = 0, shortest = int.MaxValue;
        for (int i = 0; i < blocks.Count; i++)
        {
            var (start, height) = blocks[i];
            Assert.Equal(next, start);
            Assert.InRange(height, Math.Min(rows, 1), maxRows);
            bool last = i == blocks.Count - 1;
            if (!last) Assert.Equal(0, height % strip);
            int strips = (height + strip - 1) / strip;
            (tallest, shortest) = (Math.Max(tallest, strips), Math.Min(shortest, strips));
            next = start + height;
        }
        Assert.Equal(rows, next);
        Assert.InRange(tallest - shortest, 0, 1);
    }
}
