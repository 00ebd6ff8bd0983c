#ifndef WORDS_H
#define WORDS_H
unsigned word_count(void);
unsigned word_checksum(void);
#endif
