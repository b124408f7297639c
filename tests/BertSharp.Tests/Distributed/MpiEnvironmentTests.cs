using BertSharp.Distributed;

namespace BertSharp.Tests.Distributed;

public class MpiEnvironmentTests
{
    private static MpiEnvironment? Detect(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return MpiEnvironment.Detect(name => map.GetValueOrDefault(name));
    }

    [Fact]
    public void Reads_each_launcher()
    {
        Assert.Null(Detect());
        Assert.Equal(new MpiEnvironment(1, 4, 1, 2, "Open MPI"), Detect(("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("OMPI_COMM_WORLD_LOCAL_SIZE", "2")));
        Assert.Equal(new MpiEnvironment(2, 3, 0, 1, "PMI"), Detect(("PMI_RANK", "2"), ("PMI_SIZE", "3")));
        Assert.Equal(new MpiEnvironment(5, 8, 1, 2, "Slurm"), Detect(("SLURM_PROCID", "5"), ("SLURM_NTASKS", "8"), ("SLURM_LOCALID", "1")));
        // srun launching Open MPI processes: Open MPI's variables are the ones MPI_Init uses.
        Assert.Equal("Open MPI", Detect(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2"), ("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2"))!.Launcher);
    }

    [Theory]
    [InlineData("2", "2")]
    [InlineData("x", "2")]
    [InlineData("0", "0")]
    [InlineData("-1", "2")]
    public void Bad_values_are_named(string rank, string size)
    {
        var e = Assert.Throws<InvalidDataException>(() => Detect(("OMPI_COMM_WORLD_RANK", rank), ("OMPI_COMM_WORLD_SIZE", size)));
        Assert.Contains("OMPI_COMM_WORLD_", e.Message);
    }

    [SkippableFact]
    public void Without_a_launcher_a_process_is_a_job_of_one()
    {
        Skip.If(MpiEnvironment.Current is not null, "this test process was itself started by an MPI launcher");
        using var c = Communicator.Create();
        Assert.IsType<LocalCommunicator>(c);
        Assert.Equal((0, 1), (c.Rank, c.Size));
        Assert.Throws<ArgumentException>(() => Communicator.ParseMode("horovod"));
    }
}
