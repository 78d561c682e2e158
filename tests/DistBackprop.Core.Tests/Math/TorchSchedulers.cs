// torch.optim.lr_scheduler written out in float64 as PyTorch steps it, the recursive ("chainable") form of get_lr(), for
//   SequentialLR(opt, [LinearLR(opt, start_factor=f, total_iters=W), StepLR(opt, N, G) | CosineAnnealingLR(opt, T−W, eta_min)],
//                milestones=[W])          (or the second scheduler alone when W = 0), with sched.step() after every opt.step().
// Independent of DistBackprop's closed form (Core/Training/LrSchedule.cs): it follows torch/optim/lr_scheduler.py line by line.
// Shared by the Core schedule tests and the Host's float64 training oracle (linked there). Leaves out: every other scheduler.
namespace DistBackprop.Core.Tests.MathChecks;

internal sealed class TorchSchedulers
{
    private readonly double _base;
    private readonly string _kind; // "constant", "step" or "cosine"
    private readonly int _stepSize;
    private readonly double _gamma;
    private readonly double _etaMin;
    private readonly int _warmup;
    private readonly double _startFactor;
    private readonly long _tMax;
    private long _epoch; // SequentialLR.last_epoch: optimizer steps taken

    public TorchSchedulers(double lr, string kind, long totalSteps, int stepSize = 0, double gamma = 0.1, double etaMin = 0, int warmup = 0, double startFactor = 1.0 / 3)
    {
        (_base, _kind, _stepSize, _gamma, _etaMin, _warmup, _startFactor) = (lr, kind, stepSize, gamma, etaMin, warmup, startFactor);
        _tMax = totalSteps - warmup;

        // the first scheduler's initial step: LinearLR at last_epoch 0 → lr · start_factor
        Lr = warmup > 0 ? lr * startFactor : lr;
    }

    /// <summary>param_group["lr"]: what the next opt.step() uses.</summary>
    public double Lr { get; private set; }

    /// <summary>sched.step(), after an opt.step().</summary>
    public void Step()
    {
        _epoch++;
        if (_warmup > 0 && _epoch < _warmup)
        {
            // LinearLR.get_lr, last_epoch = _epoch ≥ 1:  lr · (1 + (end − start) / (total·start + (last_epoch − 1)·(end − start)))
            Lr *= 1.0 + ((1.0 - _startFactor) / ((_warmup * _startFactor) + ((_epoch - 1) * (1.0 - _startFactor))));
            return;
        }

        if (_warmup > 0 && _epoch == _warmup)
        {
            // the milestone: SequentialLR calls the next scheduler's step(0), its closed form at epoch 0: the base lr
            Lr = _base;
            return;
        }

        var e = _epoch - _warmup; // the second scheduler's last_epoch
        switch (_kind)
        {
            case "step":
                // StepLR.get_lr: lr unless last_epoch is a (non-zero) multiple of step_size, then lr · gamma
                if (e != 0 && e % _stepSize == 0)
                {
                    Lr *= _gamma;
                }

                break;
            case "cosine":
                // CosineAnnealingLR.get_lr (recursive form)
                if ((e - 1 - _tMax) % (2 * _tMax) == 0)
                {
                    Lr += (_base - _etaMin) * (1 - Math.Cos(Math.PI / _tMax)) / 2;
                }
                else
                {
                    Lr = ((1 + Math.Cos(Math.PI * e / _tMax)) / (1 + Math.Cos(Math.PI * (e - 1) / _tMax)) * (Lr - _etaMin)) + _etaMin;
                }

                break;
        }
    }
}
