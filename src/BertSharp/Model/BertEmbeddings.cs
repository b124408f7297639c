namespace BertSharp.Model;

/// <summary>
/// HF's BertEmbeddings (path <c>embeddings</c>): word + absolute position + token type, then LayerNorm
/// and dropout. Positions are 0…T−1 for every row (right padding, as the tokenizer batches).
/// </summary>
internal sealed class BertEmbeddings
{
    private readonly int _hidden;
    private readonly int _padTokenId;
    private readonly float _dropout;

    public BertEmbeddings(WeightBuilder wb, BertConfig config)
    {
        _hidden = config.HiddenSize;
        _padTokenId = config.PadTokenId;
        _dropout = config.HiddenDropoutProb;
        // Embedding tables are decayed like matrices (HF's recipe only exempts biases and LayerNorm).
        Word = wb.Get("word_embeddings.weight", [config.VocabSize, _hidden], WeightInit.Normal, applyWeightDecay: true);
        Position = wb.Get("position_embeddings.weight", [config.MaxPositionEmbeddings, _hidden], WeightInit.Normal, applyWeightDecay: true);
        TokenType = wb.Get("token_type_embeddings.weight", [config.TypeVocabSize, _hidden], WeightInit.Normal, applyWeightDecay: true);
        Norm = new LayerNorm(wb.Push("LayerNorm"), _hidden, config.LayerNormEps);
    }

    public Parameter Word { get; }
    public Parameter Position { get; }
    public Parameter TokenType { get; }
    public LayerNorm Norm { get; }

    /// <summary>nn.Embedding(padding_idx) keeps the pad row at zero when initialised.</summary>
    public void ZeroPaddingRow()
    {
        if (_padTokenId >= 0 && _padTokenId < Word.Value.Shape[0])
            Word.Value.Data.AsSpan(_padTokenId * _hidden, _hidden).Clear();
    }

    public void CheckInput(BertInput input)
    {
        int vocab = Word.Value.Shape[0], types = TokenType.Value.Shape[0], positions = Position.Value.Shape[0];
        if (input.SequenceLength > positions)
            throw new ArgumentException($"sequence length {input.SequenceLength} exceeds max_position_embeddings ({positions})");
        for (int n = 0; n < input.InputIds.Length; n++)
        {
            if ((uint)input.InputIds[n] >= (uint)vocab)
                throw new ArgumentException($"input_ids[{n / input.SequenceLength}, {n % input.SequenceLength}] = {input.InputIds[n]} is outside the vocabulary (size {vocab})");
            if ((uint)input.TokenTypeIds[n] >= (uint)types)
                throw new ArgumentException($"token_type_ids[{n / input.SequenceLength}, {n % input.SequenceLength}] = {input.TokenTypeIds[n]} is outside type_vocab_size ({types})");
        }
    }

    // ids, types: (B,T). out: c.Output (N,C), N = B·T.
    public void Forward(BertInput input, NormalizedSumCache c, DropoutStream? dropout)
    {
        int T = input.SequenceLength, N = input.BatchSize * T, C = _hidden;
        c.Ensure(N, C);
        var word = Word.Value.Data;
        var pos = Position.Value.Data;
        var type = TokenType.Value.Data;
        for (int n = 0; n < N; n++)
        {
            var sum = c.Sum.AsSpan(n * C, C);
            word.AsSpan(input.InputIds[n] * C, C).CopyTo(sum);
            VectorOps.AddInPlace(sum, pos.AsSpan(n % T * C, C));
            VectorOps.AddInPlace(sum, type.AsSpan(input.TokenTypeIds[n] * C, C));
        }
        Norm.Forward(c.Sum, c.Output, c.Mean, c.Rstd, N);
        c.Dropped = dropout is not null && _dropout > 0;
        if (c.Dropped)
        {
            Buffers.Ensure(ref c.Mask, N * C);
            Dropout.ForwardInPlace(c.Output, c.Mask, N * C, _dropout, dropout!.NextKey(), dropout.Offset((long)T * C));
        }
    }

    // dOut (N,C) is consumed (overwritten); dSum (N,C) is scratch. Gradients scatter-add into the three tables.
    public void Backward(BertInput input, NormalizedSumCache c, float[] dOut, float[] dSum)
    {
        int T = input.SequenceLength, N = input.BatchSize * T, C = _hidden;
        if (c.Dropped) Dropout.Backward(dOut.AsSpan(0, N * C), c.Mask, dOut.AsSpan(0, N * C));
        Norm.Backward(dOut, c.Sum, c.Mean, c.Rstd, dSum, N);
        var dWord = Word.Grad;
        var dPos = Position.Grad;
        var dType = TokenType.Grad;
        // Serial scatter: rows repeat (same token, same position), and N·C adds are cheap next to the GEMMs.
        for (int n = 0; n < N; n++)
        {
            var g = dSum.AsSpan(n * C, C);
            int id = input.InputIds[n];
            // nn.Embedding(padding_idx=pad_token_id) never updates the pad row.
            if (id != _padTokenId) VectorOps.AddInPlace(dWord.AsSpan(id * C, C), g);
            VectorOps.AddInPlace(dPos.AsSpan(n % T * C, C), g);
            VectorOps.AddInPlace(dType.AsSpan(input.TokenTypeIds[n] * C, C), g);
        }
    }
}
