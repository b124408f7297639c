using System.Globalization;
using System.Text;
using System.Text.Json;
using BertSharp.Inference;

namespace BertSharp.Cli.Commands;

/// <summary>How <c>bertsharp predict</c> prints a token classifier's entities.</summary>
internal static class TokenClassificationOutput
{
    /// <summary>
    /// Per text: JSON Lines <c>{"text", "entities": [...]}</c> with Hugging Face's keys, or a line per entity
    /// (type, score, [start, end), text) after the text.
    /// </summary>
    public static StringBuilder Write(TokenClassificationPipeline pipeline, List<string> texts, AggregationStrategy aggregation, bool json)
    {
        var results = pipeline.PredictBatch(texts, aggregation);
        var output = new StringBuilder();
        for (int i = 0; i < texts.Count; i++)
        {
            if (json)
            {
                output.Append(JsonSerializer.Serialize(new Dictionary<string, object> { ["text"] = texts[i], ["entities"] = results[i].Select(ToJson).ToList() })).Append('\n');
                continue;
            }
            output.Append(texts[i].ReplaceLineEndings(" ")).Append('\n');
            foreach (var e in results[i])
                output.Append(string.Create(CultureInfo.InvariantCulture, $"  {e.Entity,-6} {e.Score:F4} [{e.Start}, {e.End}) {e.Word}")).Append('\n');
        }
        return output;
    }

    /// <summary>An entity with Hugging Face's keys: <c>entity</c> and <c>index</c> without aggregation, <c>entity_group</c> with it.</summary>
    public static Dictionary<string, object> ToJson(TokenEntity e)
    {
        var row = new Dictionary<string, object>();
        if (e.Index is int index)
        {
            row["entity"] = e.Entity;
            row["index"] = index;
        }
        else
        {
            row["entity_group"] = e.Entity;
        }
        row["score"] = e.Score;
        row["word"] = e.Word;
        row["start"] = e.Start;
        row["end"] = e.End;
        return row;
    }
}
