using System.Runtime.CompilerServices;

namespace BertSharp.Text;

/// <summary>
/// Growable parallel arrays of one sequence's tokens (id, offsets into the original text, word index),
/// reused across calls on a thread so the hot path does not allocate.
/// </summary>
internal sealed class TokenBuffer
{
    public int[] Ids = new int[256];
    public int[] Starts = new int[256];
    public int[] Ends = new int[256];
    public int[] Words = new int[256];
    public int Count;

    // The word being built by the pre-tokeniser: normalised chars and, per char, the span of the
    // original code point it came from.
    public char[] WordChars = new char[256];
    public int[] WordStarts = new int[256];
    public int[] WordEnds = new int[256];

    public void Clear() => Count = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(int id, int start, int end, int word)
    {
        if (Count == Ids.Length) Grow();
        Ids[Count] = id;
        Starts[Count] = start;
        Ends[Count] = end;
        Words[Count] = word;
        Count++;
    }

    private void Grow()
    {
        int n = Ids.Length * 2;
        Array.Resize(ref Ids, n);
        Array.Resize(ref Starts, n);
        Array.Resize(ref Ends, n);
        Array.Resize(ref Words, n);
    }

    public void GrowWord(int needed)
    {
        int n = Math.Max(WordChars.Length * 2, needed);
        Array.Resize(ref WordChars, n);
        Array.Resize(ref WordStarts, n);
        Array.Resize(ref WordEnds, n);
    }

    [ThreadStatic] private static TokenBuffer? t_first;
    [ThreadStatic] private static TokenBuffer? t_second;

    /// <summary>The calling thread's buffers for a text and its pair.</summary>
    public static (TokenBuffer First, TokenBuffer Second) ForThread()
    {
        var a = t_first ??= new TokenBuffer();
        var b = t_second ??= new TokenBuffer();
        a.Clear();
        b.Clear();
        return (a, b);
    }
}
