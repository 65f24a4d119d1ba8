/* train_cmd.h — `nnc train MODEL.nn [flags]`: compile in memory (JIT) and
 * run the training program at once (train_cmd.c). */
#ifndef NNC_TRAIN_CMD_H
#define NNC_TRAIN_CMD_H

/* argv[0] is "train". Returns the exit status. */
int train_main(int argc, char **argv);

#endif
