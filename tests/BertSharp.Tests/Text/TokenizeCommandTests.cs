using System.Text.Json;

namespace BertSharp.Tests.Text;

/// <summary><c>bertsharp tokenize</c> run as a child process.</summary>
public class TokenizeCommandTests
{
    [Fact]
    public void PrintsTokensAndIdsOfTheSpecExample()
    {
        var r = CliRunner.Run("tokenize", "I like NLP");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["[CLS] i like nl ##p [SEP]", "101 1045 2066 17953 2361 102"], r.Stdout.TrimEnd().Split('\n'));
    }

    [Fact]
    public void JsonPairHasTypeIdsAndOffsets()
    {
        var r = CliRunner.Run("tokenize", "I like NLP.", "--pair", "What about you?", "--json", "--max-length", "10");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        // longest_first to 10: A has 5 tokens, B 4, 7 fit; both would need cutting, so B (shorter) gets 7/2 = 3, A 4.
        Assert.Equal([101, 1045, 2066, 17953, 2361, 102, 2054, 2055, 2017, 102], root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], root.GetProperty("type_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(7, root.GetProperty("offsets")[3][0].GetInt32());
    }

    [Fact]
    public void JsonLinesInputGivesOneLinePerInputAndNamesTheBadLine()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "{\"text\": \"I like NLP.\", \"text_pair\": \"What about you?\"}\n{\"text\": \"tokenization\"}\n");
            var r = CliRunner.Run("tokenize", "--input", path);
            Assert.Equal(0, r.ExitCode);
            var lines = r.Stdout.TrimEnd().Split('\n');
            Assert.Equal(2, lines.Length);
            using (var second = JsonDocument.Parse(lines[1]))
                Assert.Equal(["[CLS]", "token", "##ization", "[SEP]"], second.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()));

            File.AppendAllText(path, "{\"txt\": \"oops\"}\n");
            r = CliRunner.Run("tokenize", "--input", path);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains($"{path}:3", r.Stderr);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ModelDirectoryWithCasedConfig()
    {
        var dir = Directory.CreateTempSubdirectory("bertsharp-model-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\nhello\n");
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"do_lower_case": false}""");
            var r = CliRunner.Run("tokenize", "Hello hello", "--model", dir);
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("2 5 6 3", r.Stdout.TrimEnd().Split('\n')[1]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void UnknownModelIsAUserError()
    {
        var r = CliRunner.Run("tokenize", "x", "--model", "/no/such/model");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("/no/such/model", r.Stderr);
    }
}
