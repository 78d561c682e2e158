// How a dataset is loaded: the seed for synthetic data and the test and validation splits, the
// test-split and validation-split fractions, and where named datasets (mnist) live. Leaves out: the loading (DatasetLoader.cs).
namespace DistBackprop.Core.Data;

/// <param name="Seed">Generates synthetic datasets and chooses the --test-split rows (the run seed).</param>
/// <param name="TestSplit">Fraction F in [0, 1) of the training rows carved off as a test set when the source has none; 0 = no test set.</param>
/// <param name="DataDirectory">Where named datasets live (MNIST in &lt;dir&gt;/mnist); null = <see cref="DatasetLoader.DefaultDataDirectory"/>.</param>
/// <param name="ValSplit">Fraction F in [0, 1) of the training rows held out as a validation set (ValidationSplit); 0 = none.</param>
public sealed record DataOptions(long Seed = 1, double TestSplit = 0, string? DataDirectory = null, double ValSplit = 0);
