namespace BertSharp.Training;

/// <summary>One tokenized training or evaluation example: ids with [CLS]/[SEP] already in, and its label id.</summary>
internal sealed record EncodedExample(int[] InputIds, int[] TokenTypeIds, int Label);
