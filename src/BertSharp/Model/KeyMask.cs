namespace BertSharp.Model;

/// <summary>
/// Which keys each sequence's queries may attend to, from the attention mask (B,T). With right
/// padding (the tokenizer's batches) that is the first <see cref="Valid"/>[b] keys, and attention
/// skips the rest outright. A mask with holes (a 0 before a 1) also sets <see cref="Add"/>: 0 for
/// real keys, float.MinValue (HF's finfo.min) for masked ones, added to the scores.
/// </summary>
internal sealed class KeyMask
{
    public int[] Valid = [];
    public float[] Add = [];
    public bool Holes;

    public void Set(int[] attentionMask, int B, int T)
    {
        if (Valid.Length < B) Valid = new int[B];
        Buffers.Ensure(ref Add, B * T);
        Holes = false;
        for (int b = 0; b < B; b++)
        {
            var row = attentionMask.AsSpan(b * T, T);
            int last = row.LastIndexOfAnyExcept(0);
            // An all-zero row attends uniformly to everything, as HF's equal finfo.min scores do.
            Valid[b] = last < 0 ? T : last + 1;
            if (last < 0 || row[..last].Contains(0)) Holes = true;
            for (int t = 0; t < T; t++) Add[b * T + t] = row[t] == 0 ? float.MinValue : 0f;
        }
    }
}
