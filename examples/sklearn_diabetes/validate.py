"""Cross-validate an ElasticNet on the diabetes data set: one RMSE per fold."""

import argparse

from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import KFold, cross_val_score

import jupyter_mltrack as mltrack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    x, y = load_diabetes(return_X_y=True)
    folds = KFold(n_splits=args.folds, shuffle=True, random_state=0)
    scores = -cross_val_score(ElasticNet(alpha=args.alpha), x, y, cv=folds,
                              scoring="neg_root_mean_squared_error")
    with mltrack.start_run():
        for fold, score in enumerate(scores):
            mltrack.log_metric("fold_rmse", float(score), step=fold)
        mltrack.log_metric("rmse", float(scores.mean()))
    print(f"{args.folds}-fold RMSE: {scores.mean():.4f} ± {scores.std():.4f}")


if __name__ == "__main__":
    main()
