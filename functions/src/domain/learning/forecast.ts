/**
 * A forecaster of daily counts (events, deployments, Firestore operations a day): a linear trend
 * plus an additive effect per day of the week, fitted by least squares, with a prediction interval;
 * a comparison of the forecast with a daily limit; and a rolling-origin backtest against naive
 * baselines. Pure.
 *
 * Why a regression and not Holt-Winters: with the 14 to 90 days the warehouse keeps, eight
 * parameters (level, slope, seven weekday terms) have a least-squares fit and a textbook prediction
 * interval, where Holt-Winters needs three smoothing constants chosen by a search over the same
 * short history and two full seasons just to start. The weekday terms are fitted both ways, added
 * to the trend and multiplying it (a quiet weekend that grows with the load), and the form with the
 * smaller squared error in the history is used: both have eight parameters. The price of a global
 * line is that a change of regime bends it only as fast as the new days outweigh the old ones.
 */
import { linearRegression, mean, probit } from "simple-statistics";
import { z } from "zod";

/** Fewer days than this: no forecast (each weekday seen twice, and six degrees of freedom left). */
export const MINIMUM_HISTORY_DAYS = 14;
/** Fewer days than this: a forecast, flagged as resting on a short history. */
export const SHORT_HISTORY_DAYS = 28;
/** Longest history and horizon taken (the warehouse keeps operational events 90 days). */
export const MAXIMUM_SERIES_DAYS = 3_660;
export const MAXIMUM_HORIZON_DAYS = 366;

const DAY_MS = 86_400_000;
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
type Weekday = (typeof WEEKDAYS)[number];

/** One day of a series: a UTC date (YYYY-MM-DD) and a count (finite, not negative). */
export const dailyPointSchema = z.strictObject({
  date: z.iso.date(),
  value: z.number().min(0),
});
export type DailyPoint = z.infer<typeof dailyPointSchema>;

export const dailySeriesSchema = z
  .array(dailyPointSchema)
  .max(MAXIMUM_SERIES_DAYS)
  .superRefine((points, context) => {
    const seen = new Map<string, number>();
    points.forEach((point, index) => {
      const first = seen.get(point.date);
      if (first !== undefined)
        context.addIssue({
          code: "custom",
          path: [index, "date"],
          message: `${point.date} is given twice (also at [${first}]); one count a day`,
        });
      seen.set(point.date, index);
    });
  });

export const forecastOptionsSchema = z.strictObject({
  /** Days forecast after the last day of the series. */
  horizon: z.int().min(1).max(MAXIMUM_HORIZON_DAYS).default(30),
  /** Coverage of the prediction interval. */
  level: z.number().gt(0.5).lt(1).default(0.9),
});
export type ForecastOptions = z.input<typeof forecastOptionsSchema>;

/** One forecast day: the expected count and the prediction interval, none below zero. */
export interface ForecastPoint {
  date: string;
  expected: number;
  low: number;
  high: number;
}

export interface FittedModel {
  /** How the weekday terms combine with the trend. */
  seasonality: "additive" | "multiplicative";
  /** Trend on the first day of the history. */
  intercept: number;
  /** Change of the trend a day. */
  slope_per_day: number;
  /** Additive: added to the trend on each weekday, summing to 0. Multiplicative: factors of the trend, averaging 1. */
  weekday_terms: Record<Weekday, number>;
  /** Standard deviation of the residuals (eight parameters taken off the degrees of freedom). */
  residual_sd: number;
}

export type DailyForecast =
  | { status: "invalid"; problems: string[] }
  | {
      status: "insufficient_history";
      /** Days from the first to the last date of the series (gaps included). */
      history_days: number;
      minimum_days: number;
      message: string;
    }
  | {
      status: "ok";
      /** First and last day of the history it rests on. */
      from: string;
      to: string;
      history_days: number;
      /** Days between `from` and `to` absent from the series, counted as 0. */
      missing_days: number;
      /** Fewer than SHORT_HISTORY_DAYS days: the trend and the weekday effects are uncertain. */
      short_history: boolean;
      level: number;
      model: FittedModel;
      points: ForecastPoint[];
    };

const round = (value: number, decimals = 3) => {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
};
const dayNumber = (date: string) => Date.parse(`${date}T00:00:00Z`) / DAY_MS;
const dateOf = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
/** 0 for Sunday, as Date.getUTCDay. 1970-01-01, day 0, was a Thursday. */
const weekdayOf = (day: number) => (((day + 4) % 7) + 7) % 7;

/**
 * The series laid on consecutive days from its first to its last date. A date missing in between
 * counts as 0: the warehouse answers no row for a day on which nothing happened, so a gap is a
 * day without activity (the caller that knows better fills it).
 */
export function denseSeries(points: readonly DailyPoint[]): {
  first: number;
  values: number[];
  missing: number;
} {
  if (points.length === 0) return { first: 0, values: [], missing: 0 };
  const byDay = new Map(points.map((point) => [dayNumber(point.date), point.value]));
  const days = [...byDay.keys()];
  const first = Math.min(...days);
  const last = Math.max(...days);
  const values = Array.from({ length: last - first + 1 }, (_, i) => byDay.get(first + i) ?? 0);
  return { first, values, missing: values.length - byDay.size };
}

/** A fitted model's parameters. */
interface Fit {
  model: FittedModel;
}

const effectsRecord = (terms: readonly number[]) =>
  Object.fromEntries(WEEKDAYS.map((name, i) => [name, terms[i]!])) as Record<Weekday, number>;

/** Repeats `step` until the weekday terms move less than 1e-9 (at most 500 rounds). */
function untilSettled(start: number[], step: (terms: number[]) => number[]): number[] {
  let terms = start;
  for (let round = 0; round < 500; round++) {
    const next = step(terms);
    const moved = Math.max(...next.map((term, i) => Math.abs(term - terms[i]!)));
    terms = next;
    if (moved < 1e-9) break;
  }
  return terms;
}

function finish(
  seasonality: FittedModel["seasonality"],
  line: { m: number; b: number },
  terms: number[],
  weekdays: readonly number[],
  values: readonly number[],
): Fit {
  const at = (t: number, weekday: number) =>
    seasonality === "additive"
      ? line.b + line.m * t + terms[weekday]!
      : (line.b + line.m * t) * terms[weekday]!;
  const squares = values.reduce((total, value, t) => total + (value - at(t, weekdays[t]!)) ** 2, 0);
  return {
    model: {
      seasonality,
      intercept: line.b,
      slope_per_day: line.m,
      weekday_terms: effectsRecord(terms),
      residual_sd: Math.sqrt(squares / (values.length - 8)),
    },
  };
}

/**
 * value = intercept + slope x day + effect[weekday], the effects summing to zero, by backfitting:
 * the trend on the series less the effects (simple-statistics' linearRegression), the effects as
 * the mean residual of each weekday, centred; each round lowers the squared error, and the fixed
 * point is the least-squares fit.
 */
function fitAdditive(weekdays: readonly number[], values: readonly number[]): Fit {
  let line = { m: 0, b: 0 };
  const terms = untilSettled(new Array<number>(7).fill(0), (effects) => {
    line = linearRegression(values.map((value, t) => [t, value - effects[weekdays[t]!]!]));
    const residuals = values.map((value, t) => value - (line.b + line.m * t));
    const raw = effects.map((_, weekday) => mean(residuals.filter((_, t) => weekdays[t] === weekday)));
    const centre = mean(raw);
    return raw.map((effect) => effect - centre);
  });
  line = linearRegression(values.map((value, t) => [t, value - terms[weekdays[t]!]!]));
  return finish("additive", line, terms, weekdays, values);
}

/**
 * value = (intercept + slope x day) x factor[weekday], the factors averaging one, by alternating
 * least squares: the line given the factors (the 2x2 normal equations of value on factor and
 * factor x day), then each factor given the line (sum of value x trend over sum of trend squared).
 */
function fitMultiplicative(weekdays: readonly number[], values: readonly number[]): Fit {
  let line = { m: 0, b: 0 };
  const lineGiven = (factors: readonly number[]) => {
    let ff = 0, fft = 0, fftt = 0, fy = 0, fty = 0; // prettier-ignore
    values.forEach((value, t) => {
      const f = factors[weekdays[t]!]!;
      ff += f * f;
      fft += f * f * t;
      fftt += f * f * t * t;
      fy += f * value;
      fty += f * t * value;
    });
    const determinant = ff * fftt - fft * fft;
    return determinant === 0
      ? { m: 0, b: 0 }
      : { b: (fy * fftt - fty * fft) / determinant, m: (ff * fty - fft * fy) / determinant };
  };
  const terms = untilSettled(new Array<number>(7).fill(1), (factors) => {
    line = lineGiven(factors);
    const raw = factors.map((factor, weekday) => {
      let cross = 0;
      let square = 0;
      values.forEach((value, t) => {
        if (weekdays[t] !== weekday) return;
        const trend = line.b + line.m * t;
        cross += value * trend;
        square += trend * trend;
      });
      return square === 0 ? factor : cross / square;
    });
    const average = mean(raw);
    return average === 0 ? raw : raw.map((factor) => factor / average);
  });
  line = lineGiven(terms);
  return finish("multiplicative", line, terms, weekdays, values);
}

/**
 * Forecasts the `horizon` days after the series' last date. The interval is the normal-theory
 * prediction interval of the fitted model: the residual spread, plus the uncertainty of the trend
 * (growing with the distance from the history's middle) and of the day's weekday effect (one over
 * the days of that weekday seen). Normal, not Student's t: below SHORT_HISTORY_DAYS the answer says
 * the interval is too narrow to lean on.
 */
export function forecastDaily(series: unknown, options: ForecastOptions = {}): DailyForecast {
  const parsedSeries = dailySeriesSchema.safeParse(series);
  const parsedOptions = forecastOptionsSchema.safeParse(options);
  if (!parsedSeries.success || !parsedOptions.success) {
    const issues = [
      ...(parsedSeries.success
        ? []
        : parsedSeries.error.issues.map((i) => ({ ...i, path: ["series", ...i.path] }))),
      ...(parsedOptions.success
        ? []
        : parsedOptions.error.issues.map((i) => ({ ...i, path: ["options", ...i.path] }))),
    ];
    return {
      status: "invalid",
      problems: issues.map((issue) => `${issue.path.map(String).join(".")}: ${issue.message}`),
    };
  }
  const { horizon, level } = parsedOptions.data;
  const { first, values, missing } = denseSeries(parsedSeries.data);
  const n = values.length;
  if (n < MINIMUM_HISTORY_DAYS)
    return {
      status: "insufficient_history",
      history_days: n,
      minimum_days: MINIMUM_HISTORY_DAYS,
      message: `${n} day(s) of history; a forecast needs at least ${MINIMUM_HISTORY_DAYS} (each weekday twice)`,
    };
  const weekdays = values.map((_, t) => weekdayOf(first + t));
  const additive = fitAdditive(weekdays, values);
  const multiplicative = fitMultiplicative(weekdays, values);
  // Ties (a series with no weekly pattern fits both exactly) go to the additive form.
  const chosen =
    multiplicative.model.residual_sd < additive.model.residual_sd - 1e-9 ? multiplicative : additive;
  const model = chosen.model;
  const z = probit(0.5 + level / 2);
  const middle = (n - 1) / 2;
  const spreadOfDays = values.reduce((total, _, t) => total + (t - middle) ** 2, 0);
  const perWeekday = new Array<number>(7).fill(0);
  values.forEach((_, t) => (perWeekday[weekdayOf(first + t)]! += 1));
  const points = Array.from({ length: horizon }, (_, h): ForecastPoint => {
    const t = n + h;
    const weekday = weekdayOf(first + t);
    const trend = model.intercept + model.slope_per_day * t;
    const term = model.weekday_terms[WEEKDAYS[weekday]!];
    const expected = model.seasonality === "additive" ? trend + term : trend * term;
    const se =
      model.residual_sd * Math.sqrt(1 + 1 / n + (t - middle) ** 2 / spreadOfDays + 1 / perWeekday[weekday]!);
    return {
      date: dateOf(first + t),
      expected: round(Math.max(0, expected)),
      low: round(Math.max(0, expected - z * se)),
      high: round(Math.max(0, expected + z * se)),
    };
  });
  return {
    status: "ok",
    from: dateOf(first),
    to: dateOf(first + n - 1),
    history_days: n,
    missing_days: missing,
    short_history: n < SHORT_HISTORY_DAYS,
    level,
    model: {
      seasonality: model.seasonality,
      intercept: round(model.intercept),
      slope_per_day: round(model.slope_per_day, 6),
      weekday_terms: Object.fromEntries(
        Object.entries(model.weekday_terms).map(([name, term]) => [name, round(term, 4)]),
      ) as Record<Weekday, number>,
      residual_sd: round(model.residual_sd),
    },
    points,
  };
}

/** A forecast against one daily limit. Days count from the history's last day (1: the next day). */
export interface LimitCheck {
  limit: number;
  /** Highest expected count of the horizon. */
  peak_expected: number;
  /** First day whose expected count is above the limit, and how many days away it is. */
  exceeds_on: string | null;
  days_until_limit: number | null;
  /** First day whose interval's high end is above the limit. */
  may_exceed_on: string | null;
}

export function checkLimit(points: readonly ForecastPoint[], limit: number): LimitCheck {
  const exceeding = points.findIndex((point) => point.expected > limit);
  const possibly = points.find((point) => point.high > limit);
  return {
    limit,
    peak_expected: points.reduce((peak, point) => Math.max(peak, point.expected), 0),
    exceeds_on: exceeding < 0 ? null : points[exceeding]!.date,
    days_until_limit: exceeding < 0 ? null : exceeding + 1,
    may_exceed_on: possibly?.date ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Backtest: rolling origin

/** Errors of one predictor over every forecast day of every origin. */
export interface ForecastErrors {
  mae: number;
  /** Mean of |error| / actual over days whose actual is above zero (null: none). */
  mape: number | null;
}

export interface HorizonBacktest {
  horizon: number;
  /** Forecast origins (each one a fit on every day before it). */
  origins: number;
  forecast: ForecastErrors;
  /** The same day a week earlier, repeated (for 30 days: the last observed week, over and over). */
  seasonal_naive: ForecastErrors;
  /** The mean of the history, every day. */
  history_mean: ForecastErrors;
}

function errors(pairs: readonly { predicted: number; actual: number }[]): ForecastErrors {
  const positive = pairs.filter((pair) => pair.actual > 0);
  return {
    mae: round(mean(pairs.map((pair) => Math.abs(pair.predicted - pair.actual)))),
    mape:
      positive.length === 0
        ? null
        : round(mean(positive.map((pair) => Math.abs(pair.predicted - pair.actual) / pair.actual)), 4),
  };
}

/**
 * Rolling-origin evaluation: for every origin from `minimum_history` days on (every `step` days),
 * fit on the days before it, forecast `horizon` days, and compare with what came, against the
 * seasonal naive forecast and the history's mean. Origins whose horizon runs past the series are
 * left out. Gaps in the series count as 0, as in forecastDaily.
 */
export function backtestForecast(
  series: readonly DailyPoint[],
  horizon: number,
  settings: { minimum_history?: number; step?: number } = {},
): HorizonBacktest | null {
  const minimum = Math.max(settings.minimum_history ?? SHORT_HISTORY_DAYS, MINIMUM_HISTORY_DAYS);
  const step = settings.step ?? 1;
  const { first, values } = denseSeries(series);
  const model: { predicted: number; actual: number }[] = [];
  const naive: typeof model = [];
  const flat: typeof model = [];
  let origins = 0;
  for (let origin = minimum; origin + horizon <= values.length; origin += step) {
    const history = values.slice(0, origin);
    const result = forecastDaily(
      history.map((value, t) => ({ date: dateOf(first + t), value })),
      { horizon },
    );
    if (result.status !== "ok") continue;
    origins += 1;
    const average = mean(history);
    result.points.forEach((point, h) => {
      const actual = values[origin + h]!;
      model.push({ predicted: point.expected, actual });
      naive.push({ predicted: history[origin - 7 + (h % 7)]!, actual });
      flat.push({ predicted: average, actual });
    });
  }
  if (origins === 0) return null;
  return {
    horizon,
    origins,
    forecast: errors(model),
    seasonal_naive: errors(naive),
    history_mean: errors(flat),
  };
}
