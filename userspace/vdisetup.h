/* SPDX-License-Identifier: GPL-2.0 */
/* vdisetup: the commands, each in the file that does its job. */
#ifndef VDISETUP_H
#define VDISETUP_H

/* Offline work on image files (through image.h) */
int cmd_create(int argc, char **argv);		/* create.c */
int cmd_info(int argc, char **argv);		/* inspect.c */
int cmd_check(int argc, char **argv);		/* check.c */
int cmd_map(int argc, char **argv);		/* inspect.c */
int cmd_compact(int argc, char **argv);		/* compact.c */
int cmd_resize(int argc, char **argv);		/* resize.c */
int cmd_commit(int argc, char **argv);		/* commit.c */
int cmd_convert(int argc, char **argv);		/* convert.c */
int cmd_amend(int argc, char **argv);		/* amend.c */

/* attach.c: devices, through /dev/vdi-control and /dev/vdiN */
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif /* VDISETUP_H */
