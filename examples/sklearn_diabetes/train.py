"""Train an ElasticNet on the diabetes data set and log it with jupyter_mltrack.

Run it as a project (``mltrack run examples/sklearn_diabetes -P alpha=0.3``) or on its
own (``python train.py --alpha 0.3``): under ``mltrack run`` the run the runner created
is the one ``start_run()`` attaches to.
"""

import argparse

from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import jupyter_mltrack as mltrack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--l1-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=args.seed)
    with mltrack.start_run():
        model = ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, random_state=args.seed)
        model.fit(x_train, y_train)
        predicted = model.predict(x_test)
        rmse = mean_squared_error(y_test, predicted) ** 0.5
        mltrack.log_metrics({"rmse": rmse, "mae": mean_absolute_error(y_test, predicted),
                             "r2": r2_score(y_test, predicted)})
        print(f"ElasticNet(alpha={args.alpha}, l1_ratio={args.l1_ratio}): rmse={rmse:.4f}")


if __name__ == "__main__":
    main()
