namespace BertSharp.Data;

/// <summary>The file formats <see cref="TextDataset.Load"/> reads.</summary>
public enum DatasetFormat
{
    /// <summary>Chosen from the path: a directory is <see cref="ImdbFolder"/>; otherwise the extension
    /// decides (.csv, .tsv/.tab, .jsonl/.ndjson/.json, .parquet, .label, .conll and CoNLL-2003's eng.train/eng.testa/eng.testb).</summary>
    Auto,

    /// <summary>Comma-separated values with a header row (RFC 4180 quoting), UTF-8.</summary>
    Csv,

    /// <summary>Tab-separated values with a header row and no quoting (the GLUE layout), UTF-8.</summary>
    Tsv,

    /// <summary>One JSON object per line, UTF-8.</summary>
    JsonLines,

    /// <summary>Apache Parquet.</summary>
    Parquet,

    /// <summary>IMDB's folder layout: <c>pos/*.txt</c> and <c>neg/*.txt</c> (labels "pos" and "neg"); <c>unsup/</c> is ignored.</summary>
    ImdbFolder,

    /// <summary>TREC question classification: <c>COARSE:fine question</c> per line, Latin-1.</summary>
    Trec,

    /// <summary>
    /// CoNLL-2003 columns (<c>word … tag</c> per line, a blank line between sentences, <c>-DOCSTART-</c> lines):
    /// each sentence is one text, labelled with the entity types it contains (<c>PER|LOC</c>; empty when none),
    /// a multi-label task. The tag column is the last unless the label column names its index.
    /// </summary>
    Conll,
}
