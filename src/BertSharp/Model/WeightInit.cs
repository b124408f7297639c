namespace BertSharp.Model;

/// <summary>How a weight is initialised when it is not loaded.</summary>
internal enum WeightInit
{
    Zeros,
    Ones,
    Normal,
}
