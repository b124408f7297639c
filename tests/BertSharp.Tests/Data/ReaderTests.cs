using System.Text;
using BertSharp.Data;
using Parquet;
using Parquet.Schema;

namespace BertSharp.Tests.Data;

/// <summary>Each format on small files written here, and each bad input with its message.</summary>
public class ReaderTests
{
    [Fact]
    public void CsvColumnsCanBeChosenIncludingATextPair()
    {
        using var tmp = new TempDir();
        string path = tmp.Write("pairs.csv", "premise,hypothesis,gold\n\"a, b\",c,yes\nd,\"say \"\"hi\"\"\",no\n");
        var ds = TextDataset.Load(path, new DatasetLoadOptions { TextColumn = "premise", TextPairColumn = "hypothesis", LabelColumn = "gold" });
        Assert.Equal(["premise", "hypothesis", "gold"], ds.Columns);
        Assert.Equal(new LabeledExample("a, b", "c", "yes"), ds[0] with { Source = null, Line = 0 });
        Assert.Equal("say \"hi\"", ds[1].TextPair);
        Assert.Equal(3, ds[1].Line);
    }

    [Fact]
    public void CsvWithByteOrderMarkAndCrLf()
    {
        using var tmp = new TempDir();
        string path = tmp.WriteBytes("bom.csv", [.. "\uFEFFtext,label\r\nnaïve,pos\r\n\"two\r\nlines\",neg\r\nlast,neg\r\n"u8]);
        var ds = TextDataset.Load(path);
        Assert.Equal(["naïve", "two\r\nlines", "last"], ds.Select(e => e.Text));
        Assert.Equal([2L, 3L, 5L], ds.Select(e => e.Line)); // the quoted line break makes the record two lines long
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        var e = Assert.Throws<FileNotFoundException>(() => TextDataset.Load("/no/such/train.csv"));
        Assert.Contains("/no/such/train.csv", e.Message);
    }

    [Fact]
    public void MissingColumnNamesTheFileAndTheColumnsItHas()
    {
        using var tmp = new TempDir();
        string path = tmp.Write("reviews.csv", "review,stars\ngood,5\n");
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'text' or 'sentence'", e.Message);
        Assert.Contains("'review', 'stars'", e.Message);
        var label = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path, new DatasetLoadOptions { TextColumn = "review", LabelColumn = "rating" }));
        Assert.Contains("'rating'", label.Message);
        Assert.Equal("5", TextDataset.Load(path, new DatasetLoadOptions { TextColumn = "review", LabelColumn = "stars" })[0].Label);
    }

    [Fact]
    public void BrokenQuoteNamesTheLine()
    {
        using var tmp = new TempDir();
        string path = tmp.Write("bad.csv", "text,label\ngood film,positive\n\"never closed,negative\nfine,positive\n");
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path));
        Assert.Contains($"{path}, line 3", e.Message);
    }

    [Fact]
    public void ARowWithAFieldTooManyOrTooFewNamesTheLine()
    {
        // An unquoted comma in the text shifted the label: "solid film" was read as a third class.
        using var tmp = new TempDir();
        (string Path, string Message) Refused(string name, string content)
        {
            string path = tmp.Write(name, content);
            return (path, Assert.Throws<InvalidDataException>(() => TextDataset.Load(path)).Message);
        }
        var comma = Refused("ragged.csv", "text,label\ngood film,positive\na good, solid film,positive\n");
        Assert.Equal($"{comma.Path}, line 3: malformed CSV (Record 3 (line 3) has 3 fields but 2 were expected.); a field holding a comma must be in double quotes", comma.Message);
        var shortRow = Refused("short.csv", "text,label\ngood film,positive\nbad film\n");
        Assert.StartsWith($"{shortRow.Path}, line 3: malformed CSV (", shortRow.Message);
        // A TSV's extra tab is as much a shifted field.
        var tab = Refused("ragged.tsv", "sentence\tlabel\ngood film\t1\nbad\tfilm\t0\n");
        Assert.StartsWith($"{tab.Path}, line 3: malformed TSV (", tab.Message);
    }

    [Fact]
    public void TwoColumnsOfTheNameChosenAreRefusedNotTheFirstTaken()
    {
        using var tmp = new TempDir();
        string labels = tmp.Write("labels.csv", "text,label,Label\ngood film,positive,negative\n");
        Assert.Equal($"{labels}: columns 2 and 3 are both named 'label'; rename all but one", Assert.Throws<InvalidDataException>(() => TextDataset.Load(labels)).Message);
        string texts = tmp.Write("texts.csv", "text,text,label,text\na,b,positive,c\n");
        Assert.Contains("columns 1, 2 and 4 are all named 'text'", Assert.Throws<InvalidDataException>(() => TextDataset.Load(texts)).Message);
        // A duplicate among the columns not read is no one's business.
        string other = tmp.Write("other.csv", "id,text,label,id\n1,good film,positive,1\n");
        Assert.Equal("good film", TextDataset.Load(other)[0].Text);
    }

    [Fact]
    public void EmptyTextNamesTheLineOrIsSkippedWithACount()
    {
        using var tmp = new TempDir();
        string path = tmp.Write("empty.csv", "text,label\ngood,positive\n,negative\n   ,negative\nbad,negative\n");
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path));
        Assert.Contains($"{path}, line 3", e.Message);
        Assert.Contains("empty", e.Message);
        var ds = TextDataset.Load(path, new DatasetLoadOptions { SkipEmptyRows = true });
        Assert.Equal(2, ds.Count);
        Assert.Equal(2, ds.SkippedRows);
        Assert.Contains("2 empty rows skipped", ds.DescribeClassBalance());
    }

    [Fact]
    public void NonUtf8CsvNamesTheLineAndByteOffset()
    {
        using var tmp = new TempDir();
        // "text,label\n" is 11 bytes and "good,positive\n" 14, so line 3 starts at 25 and its
        // Latin-1 é (0xE9) after "caf" is at byte 28.
        byte[] bytes = [.. "text,label\ngood,positive\ncaf"u8, 0xE9, .. ",positive\n"u8];
        string path = tmp.WriteBytes("latin1.csv", bytes);
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path));
        Assert.Contains($"{path}, line 3", e.Message);
        Assert.Contains("0xE9", e.Message);
        Assert.Contains("offset 28", e.Message);
    }

    [Fact]
    public void TsvKeepsQuotesAsText()
    {
        using var tmp = new TempDir();
        string path = tmp.Write("t.tsv", "sentence\tlabel\nhe said \"hi there\t1\n\"odd\t0\n");
        // GLUE TSV has no quoting: a quote is an ordinary character, a tab always separates (so a tab in a text makes a
        // field too many: ARowWithAFieldTooManyOrTooFewNamesTheLine).
        var ds = TextDataset.Load(path, new DatasetLoadOptions { LabelColumn = "label" });
        Assert.Equal("\"odd", ds[1].Text);
        Assert.Equal("he said \"hi there", ds[0].Text);
        Assert.Equal("1", ds[0].Label);
    }

    [Fact]
    public void JsonLinesWithNumericLabelsAndErrorsByLine()
    {
        using var tmp = new TempDir();
        string good = tmp.Write("d.jsonl", "{\"text\": \"good \\u00e9\", \"label\": 1}\n\n{\"label\": 0, \"text\": \"bad\", \"extra\": [1]}\r\n");
        var ds = TextDataset.Load(good);
        Assert.Equal(2, ds.Count);
        Assert.Equal(new LabeledExample("good é", null, "1"), ds[0] with { Source = null, Line = 0 });
        Assert.Equal(3, ds[1].Line);
        Assert.Equal(["0", "1"], LabelMap.FromTrainingData(ds).Id2Label);

        string broken = tmp.Write("broken.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": \n");
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(broken));
        Assert.Contains($"{broken}, line 2", e.Message);

        string missing = tmp.Write("missing.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"stars\": 2}\n");
        var m = Assert.Throws<InvalidDataException>(() => TextDataset.Load(missing));
        Assert.Contains($"{missing}, line 2", m.Message);
        Assert.Contains("'text', 'stars'", m.Message);

        byte[] bytes = [.. "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"caf"u8, 0xE9, .. "\", \"label\": 1}\n"u8];
        string latin = tmp.WriteBytes("latin.jsonl", bytes);
        var u = Assert.Throws<InvalidDataException>(() => TextDataset.Load(latin));
        Assert.Contains($"{latin}, line 2", u.Message);
        Assert.Contains("offset 39", u.Message); // line 1 is 25 bytes + LF = 26; {"text": "caf is 13 more
    }

    [Fact]
    public async Task ParquetWrittenByParquetNet()
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Root, "d.parquet");
        var text = new DataField<string>("sentence");
        var label = new DataField<long>("label");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream))
        {
            // Two row groups, so row numbers must carry across them.
            foreach (var (texts, labels) in new[] { (new[] { "good", "bad" }, new long[] { 1, 0 }), (new[] { "fine" }, new long[] { 1 }) })
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(text, texts);
                await group.WriteAsync(label, new ReadOnlyMemory<long>(labels));
            }
        }
        var ds = TextDataset.Load(path);
        Assert.Equal(["good", "bad", "fine"], ds.Select(e => e.Text));
        Assert.Equal(["1", "0", "1"], ds.Select(e => e.Label));
        Assert.Equal(3, ds[2].Line);
        Assert.Equal($"{path}, row 3", ds[2].Location);
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path, new DatasetLoadOptions { LabelColumn = "gold" }));
        Assert.Contains("'sentence', 'label'", e.Message);
    }

    [Fact]
    public void ImdbFolderIgnoresUnsupAndNamesABadFile()
    {
        using var tmp = new TempDir();
        tmp.Write("train/pos/1_9.txt", "great<br />film");
        tmp.Write("train/neg/2_1.txt", "awful");
        tmp.Write("train/unsup/3_0.txt", "no label");
        tmp.Write("test/pos/4_8.txt", "nice");
        tmp.Write("test/neg/5_2.txt", "dull");
        var dict = DatasetDict.Load(tmp.Root);
        Assert.Equal(["train", "test"], dict.Names);
        Assert.Equal([("awful", "neg"), ("great<br />film", "pos")], dict["train"].Select(e => (e.Text, e.Label)));
        Assert.Equal(2, dict["test"].Count);

        string bad = tmp.WriteBytes("test/pos/6_7.txt", [.. "ol"u8, 0xE9]);
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(Path.Combine(tmp.Root, "test")));
        Assert.Contains(bad, e.Message);
        Assert.Contains("offset 2", e.Message);
        var noPos = Assert.Throws<InvalidDataException>(() => TextDataset.Load(Path.Combine(tmp.Root, "train", "unsup")));
        Assert.Contains("pos/ and neg/", noPos.Message);
        var root = Assert.Throws<InvalidDataException>(() => TextDataset.Load(tmp.Root));
        Assert.Contains("holds splits (test, train)", root.Message);
    }

    [Fact]
    public void UnknownExtensionAsksForTheFormat()
    {
        using var tmp = new TempDir();
        string path = tmp.Write("data.txt", "text,label\na,b\n");
        var e = Assert.Throws<ArgumentException>(() => TextDataset.Load(path));
        Assert.Contains("'.txt'", e.Message);
        Assert.Equal("b", TextDataset.Load(path, new DatasetLoadOptions { Format = DatasetFormat.Csv })[0].Label);
    }

    [Fact]
    public void TrecLineWithoutALabelNamesTheLine()
    {
        using var tmp = new TempDir();
        string path = tmp.WriteBytes("q.label", Encoding.Latin1.GetBytes("HUM:ind Who is Pel\u00e9 ?\nno label here\n"));
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path));
        Assert.Contains($"{path}, line 2", e.Message);
    }
}
