/* Lexicon sentiment scoring (VADER rules). Owned by the scorer. */
#ifndef EARSHOT_SENTIMENT_H
#define EARSHOT_SENTIMENT_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct es_sentiment {
    double compound; /* [-1, 1], rounded to 4 decimals */
    double pos;      /* rounded to 3 decimals */
    double neu;
    double neg;
} es_sentiment;

#ifdef __cplusplus
}
#endif
#endif
