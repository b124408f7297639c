namespace BertSharp.Model;

/// <summary>What a task head reads of the encoder's output, which decides how much of the last layer runs.</summary>
internal enum HeadReads
{
    /// <summary>The pooler output tanh(dense([CLS])): the last layer computes only the [CLS] rows.</summary>
    PooledOutput,

    /// <summary>The final [CLS] state: the last layer computes only the [CLS] rows.</summary>
    ClsState,

    /// <summary>Every token's final state (token classification, span QA, masked LM).</summary>
    EveryToken,

    /// <summary>Every token's final state and the pooler output (pre-training: masked LM and next-sentence prediction).</summary>
    EveryTokenAndPooled,
}
